// A user's web app, bundled from the published package ('transformers-seggpt' resolves through its package.json
// exports, as a bundler resolves it for the browser): loads SegGPT by hub id, in the page or in a module worker.
import { env, AutoProcessor, RawImage, Tensor } from '@huggingface/transformers';
import { pipeline, SegGPTForImageSegmentation } from 'transformers-seggpt';
import { SUPPORTED_DTYPES, planVariant } from 'transformers-seggpt/conversion';

const decode = (text) => {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
};
const encode = (view) => {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let text = '';
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
};

/**
 * ONNX Runtime Web's threads, as an app should set them before its first session: ORT alone takes min(4, ⌈cores/2⌉)
 * (one thread on 2 cores). More than one needs a cross-origin isolated page (SharedArrayBuffer), here and in workers.
 */
export function chooseThreads(requested = null) {
  if (!globalThis.crossOriginIsolated) return 1;
  if (Number.isInteger(requested) && requested >= 1) return requested;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

export function configure({ remoteHost, wasmPaths, allowLocalModels = false, numThreads = null }) {
  env.remoteHost = remoteHost;
  env.allowLocalModels = allowLocalModels;
  env.localModelPath = '/no-local-models/';
  env.backends.onnx.wasm.wasmPaths = wasmPaths;
  env.backends.onnx.wasm.numThreads = chooseThreads(numThreads);
  return { numThreads: env.backends.onnx.wasm.numThreads, crossOriginIsolated: globalThis.crossOriginIsolated === true };
}

function failure(error) {
  return { ok: false, error: { name: error?.name ?? 'Error', message: String(error?.message ?? error) } };
}

/** Loads `id` and runs each case's stored processor arrays through the model. */
export async function runCases({ id, options = {}, cases }) {
  try {
    const events = [];
    const started = performance.now();
    const model = await SegGPTForImageSegmentation.from_pretrained(id, { ...options, progress_callback: (e) => events.push({ status: e.status, file: e.file, loaded: e.loaded, total: e.total }) });
    const load_seconds = (performance.now() - started) / 1000;
    const results = [];
    for (const c of cases) {
      const inputs = Object.fromEntries(Object.entries(c.inputs).map(([name, t]) => [name, new Tensor('float32', decode(t.data), t.dims)]));
      const { pred_masks } = await model(inputs, c.kwargs);
      results.push({ name: c.name, dims: pred_masks.dims, data: encode(pred_masks.data) });
    }
    await model.dispose();
    return { ok: true, results, load_seconds, events: events.filter((e) => e.status !== 'progress' || e.loaded === e.total) };
  } catch (error) {
    return failure(error);
  }
}

/** The whole public path on one case's PNGs: AutoProcessor → model → post-processing, and the pipeline. */
export async function segment({ id, options = {}, image, prompt, mask, num_labels = null, kwargs = {} }) {
  try {
    const processor = await AutoProcessor.from_pretrained(id, options);
    const model = await SegGPTForImageSegmentation.from_pretrained(id, options);
    const [i, p, m] = await Promise.all([image, prompt, mask].map((url) => RawImage.fromURL(url)));
    const inputs = await processor(i, { prompt_images: [p], prompt_masks: [m], ...(num_labels ? { num_labels } : {}) });
    const outputs = await model(inputs, kwargs);
    const [result] = processor.image_processor.post_process_semantic_segmentation(outputs, inputs.original_sizes, num_labels ?? undefined);
    await model.dispose();
    const segmenter = await pipeline('image-segmentation', id, options);
    const segments = await segmenter(i, { prompt_images: p, prompt_masks: m, embedding_type: kwargs.embedding_type ?? 'semantic' });
    await segmenter.dispose();
    return { ok: true, dims: result.segmentation.dims, segmentation: encode(Int32Array.from(result.segmentation.data)), segments: segments.length };
  } catch (error) {
    return failure(error);
  }
}

export async function cachedURLs() {
  const cache = await caches.open(env.cacheKey ?? 'transformers-cache');
  return (await cache.keys()).map((r) => r.url);
}

export { SUPPORTED_DTYPES, planVariant };

import { env, SegGPTForImageSegmentation, SegGPTImageProcessor, Tensor, type PixelBuffer } from './seggpt.js';

export type EmbeddingType = 'semantic' | 'instance';

export interface ModelChoice {
  /** A folder name under dist/models/ (e.g. 'seggpt-shapes') or a Hugging Face repo id of a converted SegGPT. */
  model: string;
  device: 'wasm' | 'webgpu';
  /** fp32, fp16, q8, int8, uint8, q4, q4f16: which onnx/model*.onnx the converter wrote. */
  dtype: string;
}

export interface LoadedSegGPT {
  choice: ModelChoice;
  model: SegGPTForImageSegmentation;
  processor: SegGPTImageProcessor;
  load_seconds: number;
}

export type LoadProgress = (message: string) => void;

/**
 * Everything is served by the page's own host: ONNX Runtime's .wasm/.mjs from dist/ort/ (instead of the CDN that
 * Transformers.js defaults to) and models from dist/models/<name>/ (a folder laid out like a hub repo). Repo ids that
 * are not found there are fetched from the Hugging Face hub.
 */
export function configureEnvironment(pageUrl: string): void {
  env.allowLocalModels = true;
  // A path, not a full URL: Transformers.js treats an http(s) localModelPath as remote when it probes file sizes.
  env.localModelPath = new URL('dist/models/', pageUrl).pathname;
  env.allowRemoteModels = true;
  env.backends.onnx.wasm!.wasmPaths = new URL('dist/ort/', pageUrl).href;
}

/** File suffix of each dtype's ONNX file (Transformers.js naming: onnx/model<suffix>.onnx). */
export const DTYPE_SUFFIX: Record<string, string> = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
};

/**
 * For a model served from dist/models/: the dtypes whose ONNX file exists. null when the model is not a local folder
 * (a hub repo, whose files are only known once they are requested).
 */
export async function localVariants(model: string): Promise<Set<string> | null> {
  const base = `${env.localModelPath}${model}/`;
  const exists = async (file: string) => (await fetch(base + file, { method: 'HEAD', cache: 'no-store' }).catch(() => null))?.ok ?? false;
  if (!model || !(await exists('config.json'))) return null;
  const found = await Promise.all(Object.entries(DTYPE_SUFFIX).map(async ([dtype, suffix]) => ((await exists(`onnx/model${suffix}.onnx`)) ? dtype : null)));
  return new Set(found.filter((dtype): dtype is string => dtype !== null));
}

let current: { key: string; loading: Promise<LoadedSegGPT> } | null = null;

/** Loads (once) the model and processor for a choice; switching releases the previous ONNX session. */
export function loadSegGPT(choice: ModelChoice, progress: LoadProgress = () => {}): Promise<LoadedSegGPT> {
  const key = `${choice.model}|${choice.device}|${choice.dtype}`;
  if (current?.key === key) return current.loading;
  const previous = current;
  const loading = (async () => {
    if (previous) await previous.loading.then((old) => old.model.dispose()).catch(() => undefined);
    const started = performance.now();
    progress(`Loading ${choice.model} (${choice.dtype}) for ${choice.device}…`);
    const [model, processor] = await Promise.all([
      SegGPTForImageSegmentation.from_pretrained(choice.model, {
        device: choice.device,
        dtype: choice.dtype as never,
        progress_callback: (event: { status: string; file?: string; progress?: number }) => {
          if (event.status === 'progress' && event.file) progress(`Downloading ${event.file}: ${Math.round(event.progress ?? 0)} %`);
        },
      }),
      SegGPTImageProcessor.from_pretrained(choice.model),
    ]);
    return { choice, model, processor, load_seconds: (performance.now() - started) / 1000 };
  })();
  current = { key, loading };
  // A failed load is not kept: the next request tries again.
  loading.catch(() => {
    if (current?.loading === loading) current = null;
  });
  return loading;
}

export interface SegmentRequest {
  query: PixelBuffer;
  prompts: { image: PixelBuffer; mask: PixelBuffer }[];
  embedding_type: EmbeddingType;
  /** Average the query half over several prompts (few-shot). */
  feature_ensemble: boolean;
}

export interface SegmentResult {
  /** HF post-processing without num_labels: int(mean of R, G, B), 0–255, at the query's size; ≥ 128 is the object. */
  segmentation: Int32Array;
  width: number;
  height: number;
  run_seconds: number;
}

/**
 * processor → model → post-processing. Several prompts are batched against the one query (the processor repeats it);
 * with feature_ensemble every row holds the same answer, without it row 0 answers for the first prompt.
 */
export async function segment(loaded: LoadedSegGPT, request: SegmentRequest): Promise<SegmentResult> {
  const { model, processor } = loaded;
  const inputs = await processor(request.query, {
    prompt_images: request.prompts.map((p) => p.image),
    prompt_masks: request.prompts.map((p) => p.mask),
  });
  const started = performance.now();
  const outputs = await model(inputs, { embedding_type: request.embedding_type, feature_ensemble: request.feature_ensemble });
  const run_seconds = (performance.now() - started) / 1000;
  const [first] = processor.post_process_semantic_segmentation(outputs as { pred_masks: Tensor }, inputs.original_sizes);
  const [height, width] = first.segmentation.dims;
  return { segmentation: first.segmentation.data as Int32Array, width, height, run_seconds };
}

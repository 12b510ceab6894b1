/**
 * The demo's SegGPT worker: loads the model and runs SegGPTSegmenter (the library's segmentation flow) for single
 * images and for videos, frame by frame as the page sends them.
 */
import type { FrameResult, FromWorker, ModelChoice, SegmentSettings, ToWorker, WorkerSetup } from './protocol.js';
import { env, SegGPTForImageSegmentation, SegGPTImageProcessor, SegGPTSegmenter, Tensor, type PixelBuffer, type SegGPTPrediction } from './seggpt.js';

const scope = self as unknown as { postMessage(message: FromWorker, transfer?: Transferable[]): void; onmessage: ((event: MessageEvent<ToWorker>) => void) | null };

interface Loaded {
  key: string;
  model: SegGPTForImageSegmentation;
  processor: SegGPTImageProcessor;
  segmenter: SegGPTSegmenter;
}

let current: { key: string; loading: Promise<Loaded> } | null = null;
const controllers = new Map<number, AbortController>();
/** Frames of running videos, by request id: the page pushes, propagate pulls. */
const videos = new Map<number, FrameQueue>();

class FrameQueue implements AsyncIterable<PixelBuffer> {
  #frames: PixelBuffer[] = [];
  #ended = false;
  #wake: (() => void) | null = null;

  push(frame: PixelBuffer): void {
    this.#frames.push(frame);
    this.#wake?.();
  }

  end(): void {
    this.#ended = true;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<PixelBuffer> {
    for (;;) {
      const frame = this.#frames.shift();
      if (frame) {
        yield frame;
      } else if (this.#ended) {
        return;
      } else {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
      }
    }
  }
}

/**
 * ONNX Runtime Web's thread count, set before the first session (its thread pool is created once). Left unset, ORT
 * takes min(4, ⌈cores / 2⌉), which keeps half the cores free for a page that runs the model on its main thread; here
 * the model runs in this worker, so the page stays responsive with every core computing: min(4, cores). More than one
 * thread needs SharedArrayBuffer, i.e. a cross-origin isolated page (COOP same-origin + COEP require-corp); without it
 * ORT would warn and fall back to one thread, so ask for one.
 */
function chooseThreads(requested: number | null): number {
  if (!self.crossOriginIsolated) return 1;
  if (requested !== null && Number.isInteger(requested) && requested >= 1) return requested;
  return Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1));
}

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

/** Loads (once) the model and processor of a choice; switching releases the previous ONNX session. */
function load(choice: ModelChoice, id: number): Promise<Loaded> {
  const key = `${choice.model}|${choice.device}|${choice.dtype}`;
  if (current?.key === key) return current.loading;
  const previous = current;
  const loading = (async () => {
    if (previous) await previous.loading.then((old) => old.model.dispose()).catch(() => undefined);
    post({ id, type: 'progress', message: `Loading ${choice.model} (${choice.dtype}) for ${choice.device}…` });
    const [model, processor] = await Promise.all([
      SegGPTForImageSegmentation.from_pretrained(choice.model, {
        device: choice.device,
        dtype: choice.dtype as never,
        progress_callback: (event: { status: string; file?: string; progress?: number }) => {
          if (event.status === 'progress' && event.file) post({ id, type: 'progress', message: `Downloading ${event.file}: ${Math.round(event.progress ?? 0)} %` });
        },
      }),
      SegGPTImageProcessor.from_pretrained(choice.model),
    ]);
    return { key, model, processor, segmenter: new SegGPTSegmenter(model, processor, { where: 'SegGPT demo' }) };
  })();
  current = { key, loading };
  loading.catch(() => {
    if (current?.loading === loading) current = null;
  });
  return loading;
}

function loaded(): Promise<Loaded> {
  if (!current) throw new Error('no model loaded: send "load" first');
  return current.loading;
}

function options(settings: SegmentSettings, signal: AbortSignal) {
  return {
    prompt_images: settings.prompts.map((p) => p.image),
    prompt_masks: settings.prompts.map((p) => p.mask),
    embedding_type: settings.embedding_type,
    feature_ensemble: settings.feature_ensemble,
    threshold: settings.threshold,
    signal,
  };
}

function frameResult(p: SegGPTPrediction, run_seconds: number): FrameResult {
  return { width: p.width, height: p.height, ids: p.ids, levels: p.levels!, prompts: p.prompts, feature_ensemble: p.feature_ensemble, run_seconds };
}

async function handle(message: ToWorker): Promise<void> {
  const { id } = message;
  switch (message.type) {
    case 'configure': {
      env.allowLocalModels = true;
      env.localModelPath = message.localModelPath;
      env.allowRemoteModels = true;
      env.backends.onnx.wasm!.wasmPaths = message.wasmPaths;
      const numThreads = chooseThreads(message.numThreads);
      env.backends.onnx.wasm!.numThreads = numThreads;
      const setup: WorkerSetup = { numThreads, crossOriginIsolated: self.crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency };
      return post({ id, type: 'done', value: setup });
    }
    case 'load': {
      const started = performance.now();
      await load(message.choice, id);
      return post({ id, type: 'done', value: (performance.now() - started) / 1000 });
    }
    case 'segment': {
      const { segmenter } = await loaded();
      const controller = new AbortController();
      controllers.set(id, controller);
      const started = performance.now();
      const [prediction] = await segmenter.segment(message.query, options(message.settings, controller.signal));
      const result = frameResult(prediction, (performance.now() - started) / 1000);
      return post({ id, type: 'done', value: result }, [result.ids.buffer, result.levels.buffer]);
    }
    case 'video-start': {
      const { segmenter } = await loaded();
      const controller = new AbortController();
      controllers.set(id, controller);
      const queue = new FrameQueue();
      videos.set(id, queue);
      let started = performance.now();
      for await (const prediction of segmenter.propagate(queue, { ...options(message.settings, controller.signal), memory: message.memory })) {
        const result = frameResult(prediction, (performance.now() - started) / 1000);
        post({ id, type: 'frame', result }, [result.ids.buffer, result.levels.buffer]);
        started = performance.now();
      }
      return post({ id, type: 'done' });
    }
    case 'video-frame':
      videos.get(id)?.push(message.frame);
      return;
    case 'video-end':
      videos.get(id)?.end();
      return;
    case 'abort':
      controllers.get(id)?.abort();
      videos.get(id)?.end();
      return;
    case 'run-model': {
      const { model } = await loaded();
      const tensor = (t: { dims: number[]; data: Float32Array }) => new Tensor('float32', t.data, t.dims);
      const started = performance.now();
      const { pred_masks } = await model(
        { pixel_values: tensor(message.inputs.pixel_values), prompt_pixel_values: tensor(message.inputs.prompt_pixel_values), prompt_masks: tensor(message.inputs.prompt_masks) },
        { embedding_type: message.embedding_type, feature_ensemble: message.feature_ensemble },
      );
      const data = pred_masks.data as Float32Array;
      return post({ id, type: 'done', value: { dims: pred_masks.dims, data, run_seconds: (performance.now() - started) / 1000 } }, [data.buffer]);
    }
  }
}

scope.onmessage = (event) => {
  const message = event.data;
  // Frames and aborts address a running request; every other message is a request of its own.
  const isRequest = message.type !== 'video-frame' && message.type !== 'video-end' && message.type !== 'abort';
  handle(message)
    .catch((error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      post({ id: message.id, type: 'error', error: { name: e.name, message: e.message } });
    })
    .finally(() => {
      if (!isRequest) return;
      controllers.delete(message.id);
      videos.delete(message.id);
    });
};

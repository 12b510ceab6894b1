/**
 * The page's side of the SegGPT worker: one module worker does all model work (worker.ts); these calls post a
 * request and resolve with its answer. Video frames stream in both directions while a video runs.
 */
import { transferables, type FrameResult, type FromWorker, type ModelChoice, type SegmentSettings, type ToWorker, type WorkerSetup } from './protocol.js';
import type { PixelBuffer } from './seggpt.js';

export type { EmbeddingType, FrameResult, ModelChoice, SegmentSettings, WorkerSetup } from './protocol.js';

export type LoadProgress = (message: string) => void;

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

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  onProgress?: LoadProgress;
  onFrame?: (result: FrameResult) => void;
}

/** A message without its id (Omit that distributes over the union). */
type Request = ToWorker extends infer M ? (M extends unknown ? Omit<M, 'id'> : never) : never;

function workerError(error: { name: string; message: string }): Error {
  return Object.assign(new Error(error.message), { name: error.name });
}

/** `?threads=N` in the page's URL: ONNX Runtime Web's thread count (else the worker picks one from the core count). */
function requestedThreads(pageUrl: string): number | null {
  const value = new URL(pageUrl).searchParams.get('threads');
  const n = value === null ? NaN : Number(value);
  return Number.isInteger(n) && n >= 1 ? n : null;
}

/**
 * Everything is served by the page's own host: ONNX Runtime's .wasm/.mjs from dist/ort/ (instead of the CDN that
 * Transformers.js defaults to) and models from dist/models/<name>/ (a folder laid out like a hub repo). Repo ids that
 * are not found there are fetched from the Hugging Face hub.
 */
export class SegGPTWorkerClient {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  /** A path, not a full URL: Transformers.js treats an http(s) localModelPath as remote when it probes file sizes. */
  readonly localModelPath: string;
  /** Resolves once the worker is configured, with the threads ONNX Runtime Web will use there. */
  readonly ready: Promise<WorkerSetup>;
  #loaded: { key: string; seconds: number } | null = null;

  constructor(pageUrl: string) {
    this.#worker = new Worker(new URL('dist/worker.js', pageUrl), { type: 'module' });
    this.#worker.onmessage = (event: MessageEvent<FromWorker>) => this.#receive(event.data);
    this.#worker.onerror = (event) => {
      const error = new Error(`the SegGPT worker failed: ${event.message}`);
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    };
    this.localModelPath = new URL('dist/models/', pageUrl).pathname;
    this.ready = this.#request({
      type: 'configure',
      localModelPath: this.localModelPath,
      wasmPaths: new URL('dist/ort/', pageUrl).href,
      numThreads: requestedThreads(pageUrl),
    }) as Promise<WorkerSetup>;
  }

  #receive(message: FromWorker): void {
    const pending = this.#pending.get(message.id);
    if (!pending) return;
    if (message.type === 'progress') pending.onProgress?.(message.message);
    else if (message.type === 'frame') pending.onFrame?.(message.result);
    else {
      this.#pending.delete(message.id);
      if (message.type === 'done') pending.resolve(message.value);
      else pending.reject(workerError(message.error));
    }
  }

  #request(message: Request, transfer: Transferable[] = [], handlers: Omit<Pending, 'resolve' | 'reject'> = {}): Promise<unknown> & { id: number } {
    const id = this.#next++;
    const promise = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject, ...handlers }));
    this.#worker.postMessage({ ...message, id } as ToWorker, transfer);
    return Object.assign(promise, { id });
  }

  /** Loads (once) the model of a choice in the worker; resolves with the seconds the load took. */
  async load(choice: ModelChoice, onProgress: LoadProgress = () => {}): Promise<number> {
    const key = `${choice.model}|${choice.device}|${choice.dtype}`;
    if (this.#loaded?.key === key) return this.#loaded.seconds;
    const seconds = (await this.#request({ type: 'load', choice }, [], { onProgress })) as number;
    this.#loaded = { key, seconds };
    return seconds;
  }

  /** Segments one image (the prompts' pixel buffers are transferred to the worker). */
  segment(query: PixelBuffer, settings: SegmentSettings): Promise<FrameResult> {
    const buffers = transferables(query, ...settings.prompts.flatMap((p) => [p.image, p.mask]));
    return this.#request({ type: 'segment', query, settings }, buffers) as Promise<FrameResult>;
  }

  /**
   * Video: sends the frames as `frames` yields them and calls `onFrame` with each answer; the next frame is read
   * only after the previous answer arrived, so a live source (a webcam) always sends its newest picture.
   */
  async propagate(
    frames: AsyncIterable<PixelBuffer>,
    settings: SegmentSettings,
    memory: number,
    onFrame: (result: FrameResult, index: number) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    let index = 0;
    let answered: () => void = () => {};
    const request = this.#request({ type: 'video-start', settings, memory }, transferables(...settings.prompts.flatMap((p) => [p.image, p.mask])), {
      onFrame: (result) => {
        onFrame(result, index++);
        answered();
      },
    });
    const stop = () => this.#worker.postMessage({ id: request.id, type: 'abort' } satisfies ToWorker);
    signal?.addEventListener('abort', stop, { once: true });
    try {
      const feeding = (async () => {
        let sent = 0;
        for await (const frame of frames) {
          if (signal?.aborted) break;
          const done = new Promise<void>((resolve) => (answered = resolve));
          this.#worker.postMessage({ id: request.id, type: 'video-frame', frame } satisfies ToWorker, transferables(frame));
          sent++;
          await Promise.race([done, request.then(() => undefined, () => undefined)]);
        }
        this.#worker.postMessage({ id: request.id, type: 'video-end' } satisfies ToWorker);
        return sent;
      })();
      await Promise.all([request, feeding]);
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  /** The model class alone on processor outputs (the test hook's runModel). */
  runModel(message: Omit<Extract<ToWorker, { type: 'run-model' }>, 'id' | 'type'>) {
    const buffers = Object.values(message.inputs).map((t) => t.data.buffer as ArrayBuffer);
    return this.#request({ type: 'run-model', ...message }, buffers) as Promise<{ dims: number[]; data: Float32Array; run_seconds: number }>;
  }

  /**
   * For a model served from dist/models/: the dtypes whose ONNX file exists. null when the model is not a local folder
   * (a hub repo, whose files are only known once they are requested).
   */
  async localVariants(model: string): Promise<Set<string> | null> {
    const base = `${this.localModelPath}${model}/`;
    const exists = async (file: string) => (await fetch(base + file, { method: 'HEAD', cache: 'no-store' }).catch(() => null))?.ok ?? false;
    if (!model || !(await exists('config.json'))) return null;
    const found = await Promise.all(Object.entries(DTYPE_SUFFIX).map(async ([dtype, suffix]) => ((await exists(`onnx/model${suffix}.onnx`)) ? dtype : null)));
    return new Set(found.filter((dtype): dtype is string => dtype !== null));
  }
}

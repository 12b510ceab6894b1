/**
 * One variant of a Hugging Face SegGPT checkpoint converted to ONNX while Transformers.js downloads it: the checkpoint
 * is opened (and its tensors read, one at a time) only when the library asks for the first converted byte, and
 * each file is produced as a stream the library consumes and caches.
 */
import type { CheckpointFiles } from '../conversion/byte_source.js';
import { checkAgainstPlan, openCheckpoint, serializeVariant, type PlannedVariant, type SerializedVariant } from '../conversion/checkpoint.js';
import type { CheckpointWeights } from '../conversion/safetensors.js';
import { resolveVariants } from '../conversion/variants.js';
import type { SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import { abortError } from '../conversion/http_source.js';

export interface FirstUseConversionOptions {
  source: CheckpointFiles;
  /** The checkpoint's config.json as the library read it. */
  config: SegGPTConfigFields;
  plan: PlannedVariant;
  /** Files of the plan that the library will not find in its cache (those it will fetch). */
  needed: ReadonlySet<string>;
  signal?: AbortSignal;
}

/**
 * Where files are served to the library (browsers; Node with a non-file cache), a failure is reported twice: the
 * stream errors, so the library's in-flight download of that file ends (Transformers.js dedupes in-flight downloads:
 * a stalled one would stall every retry), and `failed` rejects, which the caller races against the library's load —
 * the library fetches an external data file inside a `new Promise(async …)` executor that swallows the error and never
 * settles, so without the race `from_pretrained` would hang. Node writes conversions into the file cache instead
 * (cache_conversion.ts), where a failure is an ordinary rejection.
 */
export class FirstUseConversion {
  readonly #options: FirstUseConversionOptions;
  #serialized: Promise<SerializedVariant> | null = null;
  #weights: CheckpointWeights | null = null;
  #dataDone: Promise<void>;
  #markDataDone!: () => void;
  #markDataFailed!: (error: unknown) => void;
  #closed = false;
  /** Rejects with the first failure of the conversion (never resolves). */
  readonly failed: Promise<never>;
  #fail!: (error: unknown) => void;

  constructor(options: FirstUseConversionOptions) {
    this.#options = options;
    this.failed = new Promise<never>((_, reject) => (this.#fail = reject));
    this.failed.catch(() => undefined);
    options.signal?.addEventListener('abort', () => this.#fail(abortError(options.signal)), { once: true });
    this.#dataDone = new Promise<void>((resolve, reject) => {
      this.#markDataDone = resolve;
      this.#markDataFailed = reject;
    });
    this.#dataDone.catch(() => undefined);
    const data = this.#dataFile();
    if (!data || !options.needed.has(data)) this.#markDataDone();
  }

  /** The external data file of the plan, when there is one. */
  #dataFile(): string | undefined {
    const { plan } = this.#options;
    return plan.external_data ? plan.files[0].path : undefined;
  }

  #start(): Promise<SerializedVariant> {
    this.#serialized ??= (async () => {
      const { source, config, plan, signal } = this.#options;
      if (signal?.aborted) throw abortError(signal);
      const prepared = await openCheckpoint(source, config);
      this.#weights = prepared.weights;
      if (this.#closed) await prepared.weights.close();
      prepared.weights.willRead(plan.readOrder);
      const [variant] = resolveVariants(plan.dtype);
      const weights = {
        readFloat32: (name: string) => {
          if (signal?.aborted) return Promise.reject(abortError(signal));
          return prepared.weights.readFloat32(name);
        },
      };
      const serialized = await serializeVariant(config, weights, variant, { externalData: plan.external_data, attention: plan.attention });
      checkAgainstPlan(serialized, plan);
      return serialized;
    })();
    return this.#serialized;
  }

  /** The bytes of `path` (one of the plan's files). The .onnx file follows its external data file, never precedes it. */
  open(path: string): ReadableStream<Uint8Array> {
    let chunks: AsyncGenerator<Uint8Array> | null = null;
    const isData = path === this.#dataFile();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          if (!chunks) {
            const serialized = await this.#start();
            if (!isData) await this.#dataDone;
            const file = serialized.files.find((f) => f.path === path);
            if (!file) throw new Error(`transformers-seggpt: no converted file ${path}`);
            chunks = file.chunks();
          }
          const { done, value } = await chunks.next();
          if (done) {
            if (isData) this.#markDataDone();
            controller.close();
          } else {
            controller.enqueue(value);
          }
        } catch (error) {
          if (isData) this.#markDataFailed(error);
          this.#fail(error);
          controller.error(error);
        }
      },
      cancel: async () => {
        if (isData) this.#markDataFailed(abortError());
        await chunks?.return(undefined);
      },
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#serialized?.catch(() => undefined);
    await this.#weights?.close();
  }
}

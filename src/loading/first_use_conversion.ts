/**
 * One variant of a Hugging Face SegGPT checkpoint converted to ONNX while Transformers.js downloads it: the checkpoint
 * is opened (and its tensors read, one at a time) only when the library asks for the first converted byte, and
 * each file is produced as a stream the library consumes and caches.
 */
import type { CheckpointFiles } from '../conversion/byte_source.js';
import { openCheckpoint, serializeVariant, type PlannedVariant, type SerializedVariant } from '../conversion/checkpoint.js';
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

export class FirstUseConversion {
  readonly #options: FirstUseConversionOptions;
  #serialized: Promise<SerializedVariant> | null = null;
  #weights: CheckpointWeights | null = null;
  #dataDone: Promise<void>;
  #markDataDone!: () => void;
  #markDataFailed!: (error: unknown) => void;
  #closed = false;

  constructor(options: FirstUseConversionOptions) {
    this.#options = options;
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
      const serialized = await serializeVariant(config, weights, variant, { externalData: plan.external_data });
      const sizes = serialized.files.map((f) => `${f.path}:${f.byteLength}`).join(',');
      const planned = plan.files.map((f) => `${f.path}:${f.byteLength}`).join(',');
      if (sizes !== planned) throw new Error(`transformers-seggpt: the converted files (${sizes}) differ from the plan (${planned}); please report this`);
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

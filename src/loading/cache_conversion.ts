/**
 * A first-use conversion written straight into Transformers.js's own cache — its file cache in Node, Cache Storage in
 * browsers, or the user's `env.customCache` — under the keys the library looks up, before the library loads the model.
 * The library then finds every file cached and downloads nothing, and every failure of the conversion is an ordinary
 * rejection of our own promise. (Handing the library streams that fail part-way would not be: it fetches external
 * data inside a `new Promise(async …)` executor that swallows the error, so the load would hang or, in Node, crash.)
 */
import { env, type ProgressInfo } from '@huggingface/transformers';

import type { CheckpointFiles } from '../conversion/byte_source.js';
import { checkAgainstPlan, openCheckpoint, serializeVariant, type PlannedVariant } from '../conversion/checkpoint.js';
import { abortError } from '../conversion/http_source.js';
import type { SerializedFile } from '../conversion/onnx/serialize.js';
import { resolveVariants } from '../conversion/variants.js';
import type { SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import { IS_NODE } from './platform.js';

export interface CacheConversion {
  source: CheckpointFiles;
  config: SegGPTConfigFields;
  plan: PlannedVariant;
  /** The plan's files to write (those the cache lacks). */
  needed: ReadonlySet<string>;
  name: string;
  progress?: (info: ProgressInfo) => void;
  signal?: AbortSignal;
}

/** Stores one converted file; resolves once it is complete in the cache (never leaves a partial entry behind). */
export type StoreFile = (file: SerializedFile) => Promise<void>;

/** What the library caches downloads in, as its getCache() chooses it. */
export type LibraryCache = { kind: 'file' } | { kind: 'web'; cache: { put(key: string, response: Response): Promise<unknown> } } | null;

export async function libraryCache(): Promise<LibraryCache> {
  const e = env as {
    useCustomCache?: boolean;
    customCache?: { put?: (key: string, response: Response) => Promise<unknown> } | null;
    experimental_useCrossOriginStorage?: boolean;
    useBrowserCache?: boolean;
    cacheKey?: string;
    useFSCache?: boolean;
  };
  if (e.useCustomCache) return e.customCache?.put ? { kind: 'web', cache: e.customCache as { put(key: string, response: Response): Promise<unknown> } } : null;
  if (e.experimental_useCrossOriginStorage) return null; // its keys are content hashes the library computes itself
  if (e.useBrowserCache && typeof caches !== 'undefined') {
    try {
      return { kind: 'web', cache: await caches.open(e.cacheKey ?? 'transformers-cache') };
    } catch {
      // the library falls back the same way
    }
  }
  if (e.useFSCache && IS_NODE) return { kind: 'file' };
  return null;
}

/** The chunks of `file`, reporting progress as the library would for a download. */
function counted(file: SerializedFile, name: string, progress?: (info: ProgressInfo) => void): SerializedFile {
  return {
    path: file.path,
    byteLength: file.byteLength,
    chunks: async function* () {
      let done = 0;
      for await (const chunk of file.chunks()) {
        done += chunk.length;
        progress?.({ status: 'progress', name, file: file.path, progress: (done / file.byteLength) * 100, loaded: done, total: file.byteLength } as ProgressInfo);
        yield chunk;
      }
    },
  };
}

/** Converts the needed files of the plan and hands each, complete and in order (data file first), to `store`. */
export async function convertIntoCache(request: CacheConversion, store: StoreFile): Promise<void> {
  const { plan, signal, progress, name } = request;
  if (signal?.aborted) throw abortError(signal);
  const prepared = await openCheckpoint(request.source, request.config);
  try {
    prepared.weights.willRead(plan.readOrder);
    const [variant] = resolveVariants(plan.dtype);
    const weights = {
      readFloat32: (tensor: string) => (signal?.aborted ? Promise.reject(abortError(signal)) : prepared.weights.readFloat32(tensor)),
    };
    const serialized = await serializeVariant(request.config, weights, variant, { externalData: plan.external_data, attention: plan.attention });
    checkAgainstPlan(serialized, plan);
    // The data file comes first, so a cached .onnx always has its data beside it.
    for (const file of serialized.files) {
      if (!request.needed.has(file.path)) continue;
      progress?.({ status: 'initiate', name, file: file.path } as ProgressInfo);
      progress?.({ status: 'download', name, file: file.path } as ProgressInfo);
      await store(counted(file, name, progress));
      progress?.({ status: 'done', name, file: file.path } as ProgressInfo);
    }
  } finally {
    await prepared.weights.close();
  }
}

/** A store into a Web Cache API cache (Cache Storage, or a custom cache): one streamed `put` per file. */
export function webCacheStore(cache: { put(key: string, response: Response): Promise<unknown> }, keyOf: (path: string) => string): StoreFile {
  return async (file) => {
    const chunks = file.chunks();
    let failure: unknown;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await chunks.next();
          if (done) controller.close();
          else controller.enqueue(value);
        } catch (error) {
          failure ??= error;
          controller.error(error);
        }
      },
      async cancel() {
        await chunks.return(undefined);
      },
    });
    const headers = { 'content-length': String(file.byteLength), 'content-type': 'application/octet-stream' };
    // Cache.put stores an entry only once its body has been read to the end: a failed conversion leaves none. Its own
    // rejection is a generic TypeError; the conversion's error says what happened.
    await cache.put(keyOf(file.path), new Response(body, { status: 200, headers })).catch((error: unknown) => {
      throw failure ?? error;
    });
  };
}

/**
 * How a SegGPT model's ONNX session gets its file, whatever the checkpoint holds:
 *
 * - a converted repo or folder (config.json with `transformers.js_config`): loaded as Transformers.js loads any model;
 * - a Hugging Face checkpoint (config.json + safetensors, e.g. BAAI/seggpt-vit-large) that has no ONNX file for the
 *   requested dtype: that variant is converted on first use, by the same converter as `seggpt convert`, and cached;
 *   later loads (new process, new page, offline with local_files_only) read the cache and convert nothing.
 *
 * Hub ids and browser paths: the converted files are served to the library under a revision (or sub-path) of their
 * own (model_paths.ts), so the library fetches, caches and loads them like any download. Node folders on disk are
 * converted into a cache folder (node/node_platform.ts) that the library then loads as a local model.
 */
import { env, ModelRegistry, type PretrainedModelOptions, type ProgressInfo } from '@huggingface/transformers';

import { planVariant, type PlannedVariant } from '../conversion/checkpoint.js';
import { SUPPORTED_DTYPES } from '../conversion/variants.js';
import { SegGPTConfig } from '../configs/seggpt_config.js';
import { InputError } from '../errors.js';
import { convertIntoCache, libraryCache, webCacheStore, type StoreFile } from './cache_conversion.js';
import { checkpointSource } from './checkpoint_source.js';
import { FirstUseConversion } from './first_use_conversion.js';
import { isFileNotFound } from './load_errors.js';
import { convertedLocation, fetchedURL, isHubModelId, type ModelLocation } from './model_paths.js';
import { getNodePlatform, IS_NODE } from './platform.js';
import { serveFiles } from './served_files.js';

/** from_pretrained options of the SegGPT classes: Transformers.js's, plus a signal that cancels a first-use conversion. */
export interface SegGPTPretrainedOptions extends PretrainedModelOptions {
  signal?: AbortSignal;
}

export interface SegGPTSessions {
  sessions: Record<string, unknown>;
  configs: Record<string, unknown>;
}

/** Loads the ONNX session of `id` with the library (no conversion). */
export type CreateSessions = (id: string, options: PretrainedModelOptions) => Promise<SegGPTSessions>;

/**
 * The dtype a load uses when none is given, per device: q8 for WebAssembly (Transformers.js's own default there, and
 * the fastest accurate variant in browsers), fp32 elsewhere.
 */
export const SEGGPT_DEFAULT_DTYPES: Readonly<Record<string, string>> = Object.freeze({ wasm: 'q8', default: 'fp32' });

function pick(option: unknown): unknown {
  if (option && typeof option === 'object') return (option as Record<string, unknown>).model;
  return option;
}

/** The variant a load asks for: `dtype` (a string, or `{ model: … }`), else the device's default. */
export function resolveSegGPTDtype(options: PretrainedModelOptions): string {
  const dtype = pick(options.dtype);
  if (typeof dtype === 'string' && dtype !== 'auto') {
    if (!SUPPORTED_DTYPES.includes(dtype)) {
      throw new InputError(`SegGPT: dtype "${dtype}" is not one of the variants SegGPT is converted to: ${SUPPORTED_DTYPES.join(', ')}`);
    }
    return dtype;
  }
  const device = pick(options.device) ?? (IS_NODE ? 'cpu' : 'wasm');
  return SEGGPT_DEFAULT_DTYPES[device as string] ?? SEGGPT_DEFAULT_DTYPES.default;
}

/** The checkpoint's config with the `transformers.js_config` a conversion of `plan` would have written. */
function convertedConfig(config: SegGPTConfig, plan: PlannedVariant): SegGPTConfig {
  const jsConfig = { dtype: plan.dtype, ...(plan.external_data ? { use_external_data_format: { [plan.file]: 1 } } : {}) };
  return new SegGPTConfig({ ...config.toFields(), 'transformers.js_config': jsConfig });
}

/** Which of the plan's files the library already has cached at `where` (null when the library cannot tell). */
async function cachedFiles(where: ModelLocation, config: SegGPTConfig, options: PretrainedModelOptions): Promise<Set<string> | null> {
  const registry = ModelRegistry as unknown as { is_cached_files?: (id: string, options: object) => Promise<{ files: { file: string; cached: boolean }[] }> };
  if (typeof registry?.is_cached_files !== 'function') return null;
  try {
    const { files } = await registry.is_cached_files(where.id, {
      revision: where.revision,
      cache_dir: options.cache_dir,
      config,
      dtype: options.dtype,
      device: options.device,
      include_tokenizer: false,
      include_processor: false,
    });
    return new Set(files.filter((f) => f.cached).map((f) => f.file));
  } catch {
    return null;
  }
}

const locks = new Map<string, Promise<unknown>>();

/** Runs loads of the same converted files one after another (the second then finds the first's result cached). */
async function serialized<T>(key: string, run: () => Promise<T>): Promise<T> {
  const previous = locks.get(key) ?? Promise.resolve();
  const current = previous.catch(() => undefined).then(run);
  locks.set(key, current);
  try {
    return await current;
  } finally {
    if (locks.get(key) === current) locks.delete(key);
  }
}

export async function loadSessions(id: string, options: SegGPTPretrainedOptions, config: SegGPTConfig, create: CreateSessions): Promise<SegGPTSessions> {
  const { signal, ...libraryOptions } = options;
  if (config['transformers.js_config'] !== undefined) return create(id, libraryOptions);

  const dtype = resolveSegGPTDtype(libraryOptions);
  const plan = await planVariant(config.toFields(), dtype);
  const base: PretrainedModelOptions = { ...libraryOptions, dtype: dtype as PretrainedModelOptions['dtype'] };
  const progress = typeof options.progress_callback === 'function' ? (options.progress_callback as (info: ProgressInfo) => void) : undefined;
  const revision = options.revision ?? 'main';

  const local = getNodePlatform();
  const folder = local ? await local.folderOf(id) : null;
  if (local && folder) {
    // A folder that holds this variant already (converted, or ONNX files beside the checkpoint) loads as it is.
    if (await local.hasFile(folder, `onnx/${plan.file}`)) return create(id, base);
    const converted = await serialized(`${folder}|${dtype}`, () =>
      local.convert(folder, { config: config.toFields(), plan, cacheDir: options.cache_dir ?? env.cacheDir ?? '.cache', name: id, progress, signal }),
    );
    return create(converted, { ...base, config: convertedConfig(config, plan) });
  }

  const where = convertedLocation(id, revision);
  const withConversion = convertedConfig(config, plan);
  return serialized(`${where.id}|${where.revision}|${options.cache_dir ?? ''}|${dtype}`, async () => {
    const cached = await cachedFiles(where, withConversion, base);
    const needed = new Set(plan.files.map((f) => f.path).filter((path) => !cached?.has(path)));
    if (needed.size > 0) {
      // The repo itself may hold this ONNX file (published without a transformers.js_config): then it loads as it is.
      try {
        return await create(id, base);
      } catch (error) {
        if (!isFileNotFound(error)) throw error;
      }
    }
    // The converted revision exists only here: whatever else the library asks of it (metadata probes of config.json,
    // say) is answered 404 locally, never by the network.
    const createConverted = async () => {
      const stop = serveFiles([], fetchedURL(where, ''));
      try {
        return await create(where.id, { ...base, revision: where.revision, config: withConversion });
      } finally {
        stop();
      }
    };
    if (needed.size === 0) return createConverted();
    // Transformers.js's file cache keeps a download of a revision other than 'main' under <cache>/<id>/<revision>/.
    const cacheDir = options.cache_dir ?? env.cacheDir;
    const unfinished = local && isHubModelId(where.id) && cacheDir ? { cacheDir, folder: `${where.id}/${where.revision}/onnx` } : null;
    if (unfinished) await local!.removeUnfinishedDownloads(unfinished.cacheDir, unfinished.folder, false);
    const source = checkpointSource(id, { revision, local_files_only: options.local_files_only ?? false, signal, name: id, progress });
    const cache = await libraryCache();
    const store: StoreFile | null =
      cache?.kind === 'web' ? webCacheStore(cache.cache, (path) => fetchedURL(where, path))
      : cache?.kind === 'file' && unfinished ? local!.fileCacheStore(unfinished.cacheDir, `${where.id}/${where.revision}`)
      : null;
    if (store) {
      // Where the library may not download, it must not find a conversion either: it reports the missing file itself.
      if (options.local_files_only || !env.allowRemoteModels) return createConverted();
      await convertIntoCache({ source, config: config.toFields(), plan, needed, name: id, progress, signal }, store);
      return createConverted();
    }
    // No cache the converter can write to (caching off, cross-origin storage): the files are served as downloads.
    const conversion = new FirstUseConversion({ source, config: config.toFields(), plan, needed, signal });
    const stop = serveFiles(
      plan.files.map((f) => ({ url: fetchedURL(where, f.path), byteLength: f.byteLength, open: () => conversion.open(f.path) })),
      fetchedURL(where, ''),
    );
    try {
      const loading = create(where.id, { ...base, revision: where.revision, config: withConversion });
      loading.catch(() => undefined); // abandoned when the conversion fails first: its later outcome does not matter
      return await Promise.race([loading, conversion.failed]);
    } catch (error) {
      if (unfinished?.cacheDir) await local!.removeUnfinishedDownloads(unfinished.cacheDir, unfinished.folder, true);
      throw error;
    } finally {
      stop();
      await conversion.close();
    }
  });
}

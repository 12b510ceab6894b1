/**
 * The Node platform: local files, and Hugging Face SegGPT checkpoint folders on disk converted on first use into the cache
 * (`<cache_dir or env.cacheDir>/.seggpt-converted/<folder>-<key>-<dtype>/`, a complete converted model folder).
 *
 * The key covers everything the output depends on: the folder's real path, config.json and preprocessor_config.json
 * (their bytes), each weight file's size and modification time, the converter's format version and the dtype, so
 * changed weights or configs convert again. A cache entry appears whole (staging folder + rename) or not at all.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { env } from '@huggingface/transformers';

import { convertedConfigJSON, prepareCheckpoint, serializeVariant, type PlannedVariant } from '../../conversion/checkpoint.js';
import { folderCheckpointFiles, writeSerializedFile } from '../../conversion/node/files.js';
import { createStaging, discardStaging, placeStaging } from '../../conversion/node/staging.js';
import { resolveVariants } from '../../conversion/variants.js';
import { WEIGHTS_FILE, WEIGHTS_INDEX_FILE } from '../../conversion/safetensors.js';
import { abortError } from '../../conversion/http_source.js';
import { InputError } from '../../errors.js';
import { CONVERTED_FORMAT, isHubModelId } from '../model_paths.js';
import type { StoreFile } from '../cache_conversion.js';
import type { NodePlatform, LocalConversionRequest } from '../platform.js';
import { isProcessAlive } from '../../conversion/node/processes.js';

/** A folder name no hub id can take (ids start with a word character), so it never collides with the library's cache. */
export const CONVERTED_CACHE_FOLDER = '.seggpt-converted';

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function readIfPresent(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch {
    return Buffer.alloc(0);
  }
}

/** The weight files of a checkpoint folder: model.safetensors, or the index and every shard it names. */
async function weightFiles(folder: string): Promise<string[]> {
  if (await isFile(join(folder, WEIGHTS_FILE))) return [WEIGHTS_FILE];
  const index = join(folder, WEIGHTS_INDEX_FILE);
  if (!(await isFile(index))) return [];
  try {
    const map = (JSON.parse(await readFile(index, 'utf8')) as { weight_map?: Record<string, string> }).weight_map ?? {};
    return [WEIGHTS_INDEX_FILE, ...[...new Set(Object.values(map))].filter((f) => typeof f === 'string').sort()];
  } catch {
    return [WEIGHTS_INDEX_FILE];
  }
}

async function cacheKey(folder: string, plan: PlannedVariant): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${CONVERTED_FORMAT}\0${plan.dtype}\0${plan.attention}\0${await realpath(folder)}\0`);
  for (const file of ['config.json', 'preprocessor_config.json']) hash.update(await readIfPresent(join(folder, file))).update('\0');
  for (const file of await weightFiles(folder)) {
    try {
      const { size, mtimeMs, ino } = await stat(join(folder, file));
      hash.update(`${file}\0${size}\0${mtimeMs}\0${ino}\0`);
    } catch {
      hash.update(`${file}\0missing\0`);
    }
  }
  return hash.digest('hex').slice(0, 16);
}

async function convert(folder: string, request: LocalConversionRequest): Promise<string> {
  const { plan, signal, progress, name } = request;
  // Named after the real folder, so a symlink to a checkpoint finds the conversion made through its target.
  const target = join(request.cacheDir, CONVERTED_CACHE_FOLDER, `${basename(await realpath(folder))}-${await cacheKey(folder, plan)}-${plan.dtype}`);
  if (existsSync(join(target, 'config.json'))) return target;
  if (signal?.aborted) throw abortError(signal);

  const prepared = await prepareCheckpoint(folderCheckpointFiles(folder));
  const staging = await createStaging(target);
  try {
    const [variant] = resolveVariants(plan.dtype);
    const weights = {
      readFloat32: (tensor: string) => (signal?.aborted ? Promise.reject(abortError(signal)) : prepared.weights.readFloat32(tensor)),
    };
    const serialized = await serializeVariant(prepared.config, weights, variant, { externalData: plan.external_data, attention: plan.attention });
    await writeFile(join(staging, 'preprocessor_config.json'), JSON.stringify(prepared.preprocessor, null, 2) + '\n');
    await mkdir(join(staging, 'onnx'));
    const total = serialized.bytes;
    let done = 0;
    for (const file of serialized.files) {
      progress?.({ status: 'initiate', name, file: file.path });
      progress?.({ status: 'download', name, file: file.path });
      const counted = {
        ...file,
        chunks: async function* () {
          for await (const chunk of file.chunks()) {
            done += chunk.length;
            progress?.({ status: 'progress', name, file: file.path, progress: (done / total) * 100, loaded: done, total });
            yield chunk;
          }
        },
      };
      await writeSerializedFile(join(staging, file.path), counted);
      progress?.({ status: 'done', name, file: file.path });
    }
    // config.json last: a cache folder that has it is complete.
    await writeFile(join(staging, 'config.json'), JSON.stringify(convertedConfigJSON(prepared.config, [serialized]), null, 2) + '\n');
    try {
      await placeStaging(staging, target);
    } catch (error) {
      // Another process converted the same checkpoint meanwhile: use its result.
      if (error instanceof InputError && existsSync(join(target, 'config.json'))) return target;
      throw error;
    }
    return target;
  } catch (error) {
    await discardStaging(staging);
    throw error;
  } finally {
    await prepared.weights.close();
  }
}

function fileCacheStore(cacheDir: string, folder: string): StoreFile {
  return async (file) => {
    const target = join(cacheDir, folder, file.path);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.tmp.${process.pid}.${randomBytes(4).readUInt32LE(0).toString(36)}`;
    try {
      await writeSerializedFile(tmp, file);
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  };
}

/** Transformers.js's FileCache writes `<file>.tmp.<pid>.<random>` and renames it when complete. */
const UNFINISHED = /\.tmp\.(\d+)\.[a-z0-9]+$/;

async function removeUnfinishedDownloads(cacheDir: string, folder: string, ownToo: boolean): Promise<void> {
  const dir = join(cacheDir, folder);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(UNFINISHED.exec(name)?.[1]);
    if (!pid || (pid === process.pid ? !ownToo : isProcessAlive(pid))) continue;
    await rm(join(dir, name), { force: true });
  }
}

export const nodePlatform: NodePlatform = {
  readFile: (path) => readFile(path),
  async folderOf(id) {
    if (!env.allowLocalModels) return null;
    const path = isHubModelId(id) ? join(env.localModelPath, id) : resolve(id);
    try {
      if ((await stat(path)).isDirectory() && (await isFile(join(path, 'config.json')))) return path;
    } catch {
      // not a local folder
    }
    return null;
  },
  hasFile: (folder, file) => isFile(join(folder, file)),
  isFolderHere(name) {
    try {
      return statSync(resolve(name)).isDirectory();
    } catch {
      return false;
    }
  },
  convert,
  fileCacheStore,
  removeUnfinishedDownloads,
};

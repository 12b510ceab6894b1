/**
 * What only Node can do: read local files and checkpoint folders from disk and convert those into a cache folder
 * (src/loading/node/node_platform.ts, installed by the package's Node entry). Browsers fetch every file, so they
 * need none of this.
 */
import type { ProgressInfo } from '@huggingface/transformers';

import type { PlannedVariant } from '../conversion/checkpoint.js';
import type { SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import type { StoreFile } from './cache_conversion.js';

export interface LocalConversionRequest {
  config: SegGPTConfigFields;
  plan: PlannedVariant;
  /** Root of the cache: the load's cache_dir, else env.cacheDir. */
  cacheDir: string;
  /** Model id or path as the user passed it, for progress events. */
  name: string;
  progress?: (info: ProgressInfo) => void;
  signal?: AbortSignal;
}

export interface NodePlatform {
  /** The bytes of a local file (an image path given to the processor). */
  readFile(path: string): Promise<Uint8Array>;
  /** The local folder that Transformers.js reads `id` from (a path, or env.localModelPath/<id>), or null. */
  folderOf(id: string): Promise<string | null>;
  hasFile(folder: string, file: string): Promise<boolean>;
  /** Whether `name` is a folder in the working directory (for the hint that a bare name is read as a hub id). */
  isFolderHere(name: string): boolean;
  /** Converts one variant of the checkpoint in `folder` once, into the cache; returns the converted model folder. */
  convert(folder: string, request: LocalConversionRequest): Promise<string>;
  /**
   * Stores converted files in Transformers.js's file cache (`<cacheDir>/<folder>/<path>`), as its FileCache stores a
   * download: under `<file>.tmp.<pid>.<random>`, renamed when complete.
   */
  fileCacheStore(cacheDir: string, folder: string): StoreFile;
  /**
   * Removes the temporary files Transformers.js's file cache left in `folder` (relative to `cacheDir`) for downloads that
   * never finished: those of dead processes, and with `ownToo` this process's (after its own load failed).
   */
  removeUnfinishedDownloads(cacheDir: string, folder: string, ownToo: boolean): Promise<void>;
}

let localCheckpoints: NodePlatform | null = null;

export function setNodePlatform(implementation: NodePlatform): void {
  localCheckpoints = implementation;
}

export function getNodePlatform(): NodePlatform | null {
  return localCheckpoints;
}

export const IS_NODE = typeof process !== 'undefined' && process.release?.name === 'node';

/**
 * A checkpoint's files read where Transformers.js would read them: the local model path first (when
 * `env.allowLocalModels`), then the remote host (when `env.allowRemoteModels` and not `local_files_only`), over
 * the network fetch the library uses, with Range requests.
 */
import { env, type ProgressInfo } from '@huggingface/transformers';

import type { ByteSource, CheckpointFiles } from '../conversion/byte_source.js';
import { openHttpSource, type FetchLike } from '../conversion/http_source.js';
import { isHubModelId, localFilePath, remoteFileURL } from './model_paths.js';
import { IS_NODE } from './platform.js';
import { networkFetch } from './served_files.js';

export interface CheckpointSourceOptions {
  revision: string;
  local_files_only?: boolean;
  signal?: AbortSignal;
  /** Model id for progress events. */
  name: string;
  progress?: (info: ProgressInfo) => void;
}

/** Hosts the library sends HF_TOKEN to (Node only, as Transformers.js does). */
const TOKEN_HOSTS = ['huggingface.co', 'hf.co'];

function tokenFor(url: string): { token?: string; tokenOrigin?: string } {
  if (!IS_NODE) return {};
  const token = process.env.HF_TOKEN ?? process.env.HF_ACCESS_TOKEN;
  if (!token) return {};
  try {
    const parsed = new URL(url);
    return TOKEN_HOSTS.includes(parsed.hostname) ? { token, tokenOrigin: parsed.origin } : {};
  } catch {
    return {};
  }
}

export function checkpointSource(id: string, options: CheckpointSourceOptions): CheckpointFiles {
  const fetch = networkFetch() as FetchLike;
  const openAt = (url: string, file: string): Promise<ByteSource | null> => {
    let started = false;
    const progress = options.progress;
    return openHttpSource(url, {
      fetch,
      signal: options.signal,
      ...tokenFor(url),
      onBytes: (loaded, total) => {
        if (!progress) return;
        if (!started) {
          started = true;
          progress({ status: 'initiate', name: options.name, file });
          progress({ status: 'download', name: options.name, file });
        }
        progress({ status: 'progress', name: options.name, file, progress: total ? (loaded / total) * 100 : 100, loaded, total });
        if (loaded >= total) progress({ status: 'done', name: options.name, file });
      },
    });
  };
  const remote = isHubModelId(id) && env.allowRemoteModels && !options.local_files_only;
  return {
    location: remote ? remoteFileURL(id, options.revision, '') : localFilePath(id, ''),
    async open(file) {
      // In Node the library reads local folders from disk: src/loading/node handles those before this is used.
      if (env.allowLocalModels && !IS_NODE) {
        try {
          const local = await openAt(localFilePath(id, file), file);
          if (local) return local;
        } catch (error) {
          // As the library does: a local path that cannot be read falls back to the remote host.
          if (!remote || options.signal?.aborted) throw error;
        }
      }
      return remote ? openAt(remoteFileURL(id, options.revision, file), file) : null;
    },
  };
}

/**
 * Why a model load failed, as a typed error that names the model, the host and what to do. Transformers.js reports a
 * lost network as a bare `TypeError: fetch failed` and a missing repo as "Could not locate file"; users get this.
 */
import { ModelFileNotFoundError } from '@huggingface/transformers';

import { BackendError, CheckpointError, HubError, SegGPTError } from '../errors.js';
import { describeNetworkError } from '../conversion/http_source.js';
import { explainBackendError } from '../utils/backend_errors.js';
import { isHubModelId, remoteHostName } from './model_paths.js';
import { getNodePlatform } from './platform.js';

export interface LoadContext {
  id: string;
  revision?: string;
  local_files_only?: boolean;
  device?: unknown;
  dtype?: unknown;
  /** The file being loaded, when known (config.json, onnx/model.onnx …). */
  file?: string;
}

const NETWORK_CODES = /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EPIPE|UND_ERR|fetch failed|terminated|Failed to fetch|NetworkError|Load failed/;

export function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof SegGPTError) return false;
  return error.name === 'TypeError' && NETWORK_CODES.test(`${error.message} ${describeNetworkError(error)}`);
}

export function isAbortError(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}

function statusOf(error: unknown): number | null {
  const status = (error as { status?: unknown } | null)?.status;
  if (typeof status === 'number') return status;
  const match = /\b(401|403|404)\b/.exec(error instanceof Error ? error.message : '');
  return match ? Number(match[1]) : null;
}

/** A "file not found" of the library: missing repo, file or revision, or not cached with local_files_only. */
export function isFileNotFound(error: unknown): boolean {
  if (error instanceof CheckpointError) return /not found \(404\)/.test(error.message);
  if (error instanceof SegGPTError) return false;
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ModelFileNotFoundError) return statusOf(error) !== 401 && statusOf(error) !== 403;
  return /could not locate file|not found locally|local file missing|no such file|ENOENT/i.test(message);
}

/** Says the bare name is a folder here, when it is (`'shapes-onnx'` is read as a hub id; `'./shapes-onnx'` as a folder). */
function folderHint(id: string): string {
  const local = getNodePlatform();
  if (!local || !isHubModelId(id) || id.startsWith('.') || !local.isFolderHere(id)) return '';
  return `; there is a folder "${id}" here: pass './${id}' to load it (a bare name is read as a hub id)`;
}

export function describeLoadFailure(error: unknown, context: LoadContext): Error {
  if (error instanceof SegGPTError || isAbortError(error)) return error as Error;
  const { id } = context;
  const host = remoteHostName();
  const revision = context.revision ?? 'main';
  const message = error instanceof Error ? error.message : String(error);

  if (isNetworkError(error)) {
    return new HubError(
      `SegGPT: cannot reach ${host} to load "${id}" (${describeNetworkError(error)}). Check the network connection and env.remoteHost ` +
        '(the seggpt CLI: --hub-url or HF_ENDPOINT); offline, pass local_files_only: true to use what an earlier load cached, or a local folder' +
        folderHint(id),
      { cause: error },
    );
  }
  const status = statusOf(error);
  if (error instanceof ModelFileNotFoundError && (status === 401 || status === 403)) {
    return new HubError(
      `SegGPT: ${host} refused access to "${id}" (${status}): the repo is private or gated, or does not exist. Check the id; for a gated repo ` +
        `accept its conditions at ${host}/${id}, then set HF_TOKEN (Node; browsers send no token: use a mirror or a local folder)${folderHint(id)}`,
      { cause: error },
    );
  }
  if (isFileNotFound(error)) {
    const file = context.file ?? (/config\.json/.test(message) ? 'config.json' : undefined);
    if (context.local_files_only || /local_files_only|allowRemoteModels/.test(message)) {
      return new CheckpointError(
        `SegGPT: "${id}"${file ? ` (${file})` : ''} is not in the cache and local_files_only (or env.allowRemoteModels = false) forbids downloading it: ` +
          'load it once with the network, or pass a local folder' + folderHint(id),
        { cause: error },
      );
    }
    if (file === 'config.json') {
      return new CheckpointError(
        isHubModelId(id)
          ? `SegGPT: "${id}" was not found on ${host} (no config.json at revision "${revision}"): check the id and the revision${folderHint(id)}`
          : `SegGPT: ${id}: no config.json there; pass a SegGPT model folder (config.json, preprocessor_config.json, and onnx/ or model.safetensors)`,
        { cause: error },
      );
    }
  }
  const backend = explainBackendError(error, { device: context.device, dtype: context.dtype, model: id });
  if (backend) return backend;
  if (/unsupported device|invalid dtype|does not support|execution provider|backend/i.test(message)) {
    return new BackendError(`SegGPT: ${id}: ${message}; pick another device/dtype (e.g. device: 'cpu', dtype: 'fp32')`, { cause: error });
  }
  return error instanceof Error ? error : new Error(message);
}

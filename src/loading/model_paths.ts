/**
 * Where Transformers.js looks for a model's files, by its own rules (utils/hub.js `buildResourcePaths`), so that the
 * files this plugin reads or serves are exactly the ones the library would fetch:
 *
 *   remote  {env.remoteHost}{env.remotePathTemplate with {model}, {revision}}{file}
 *   local   {env.localModelPath}{id}/{file} for hub ids, {path}/{file} for any other path
 */
import { env } from '@huggingface/transformers';

/** Transformers.js's hub id rule (owner/name or name; no `..`, no `--`). */
const REPO_ID = /^(\b[\w\-.]+\b\/)?\b[\w\-.]{1,96}\b$/;

export function isHubModelId(id: string): boolean {
  return REPO_ID.test(id) && !id.includes('..') && !id.includes('--') && !id.endsWith('.git') && !id.endsWith('.ipynb');
}

/** The library's path join: one slash between parts, leading/trailing slashes of inner parts dropped. */
export function pathJoin(...parts: string[]): string {
  return parts
    .map((part, i) => {
      let p = part;
      if (i) p = p.replace(/^\//, '');
      if (i !== parts.length - 1) p = p.replace(/\/$/, '');
      return p;
    })
    .join('/');
}

export function remoteFileURL(id: string, revision: string, file: string): string {
  const path = env.remotePathTemplate.replaceAll('{model}', id).replaceAll('{revision}', encodeURIComponent(revision));
  return pathJoin(env.remoteHost, path, file);
}

export function localFilePath(id: string, file: string): string {
  const request = pathJoin(id, file);
  return isHubModelId(id) ? pathJoin(env.localModelPath, request) : request;
}

/** The host the library downloads from, for messages. */
export function remoteHostName(): string {
  try {
    return new URL(env.remoteHost).host;
  } catch {
    return env.remoteHost;
  }
}

/**
 * Converted files live beside the checkpoint's own under a revision of their own (hub ids) or a sub-path (folders):
 * the library caches them like any download, they never shadow files the repo itself has, and a new revision of
 * the checkpoint gets a new conversion. The version changes whenever the converter's output changes.
 */
export const CONVERTED_FORMAT = 'seggpt-onnx-v1';

export interface ModelLocation {
  /** What to pass to from_pretrained. */
  id: string;
  revision: string;
}

export function convertedLocation(id: string, revision: string): ModelLocation {
  return isHubModelId(id) ? { id, revision: `${revision}~${CONVERTED_FORMAT}` } : { id: pathJoin(id, `.${CONVERTED_FORMAT}`), revision };
}

/** The URL the library fetches for `file` of `location` (remote for hub ids, the local path otherwise). */
export function fetchedURL(location: ModelLocation, file: string): string {
  return isHubModelId(location.id) ? remoteFileURL(location.id, location.revision, file) : localFilePath(location.id, file);
}

/** Absolute form of a URL as fetch resolves it (relative URLs against the page in browsers). */
export function absoluteURL(url: string): string {
  try {
    const base = typeof location !== 'undefined' && location.href ? location.href : undefined;
    return new URL(url, base).href;
  } catch {
    return url;
  }
}

/**
 * Hands files that exist nowhere yet (ONNX files converted on first use) to Transformers.js through `env.fetch`, the
 * library's documented hook for every file it downloads. The library then treats them like any download: progress
 * events, its cache (Cache Storage, the file cache, a custom cache), `local_files_only` on the next load.
 *
 * Only the URLs registered for a load in progress are answered here; every other request goes to the fetch that
 * was in `env.fetch` before (the user's, if they set one), untouched.
 */
import { env } from '@huggingface/transformers';

import { absoluteURL } from './model_paths.js';

export interface ServedFile {
  /** Exact URL the library will fetch. */
  url: string;
  byteLength: number;
  /** The file's bytes; called once per GET. */
  open(): ReadableStream<Uint8Array>;
}

type Fetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

const served = new Map<string, ServedFile>();
/** URL prefixes that exist only here: a request under one that is not served gets a local 404, never the network. */
const prefixes = new Map<string, number>();
/** Each wrapper this module installed, and the fetch it wraps (the user's, or the library's default). */
const wrapped = new WeakMap<Fetch, Fetch>();

/** The fetch to use for real network requests: the one `env.fetch` held before this module wrapped it. */
export function networkFetch(): Fetch {
  const current = env.fetch as Fetch;
  return wrapped.get(current) ?? current;
}

function install(): void {
  const current = env.fetch as Fetch;
  if (wrapped.has(current)) return;
  // Calls the fetch it wrapped, never a shared variable: a user who wraps env.fetch after a load (logging, auth)
  // wraps this wrapper, and the next install wraps theirs; each layer calls the one below it, once.
  const wrapper: Fetch = async (input, init) => {
    const url = absoluteURL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const file = served.get(url);
    if (file) return respond(file, init);
    for (const prefix of prefixes.keys()) if (url.startsWith(prefix)) return new Response(null, { status: 404 });
    return current(input, init);
  };
  wrapped.set(wrapper, current);
  env.fetch = wrapper as typeof env.fetch;
}

function respond(file: ServedFile, init: RequestInit | undefined): Response {
  const headers = new Headers({ 'content-length': String(file.byteLength), 'content-type': 'application/octet-stream' });
  const method = (init?.method ?? 'GET').toUpperCase();
  // Metadata probes (HEAD, or the library's `Range: bytes=0-0` GET) only need the size: nothing is converted for them.
  const range = new Headers(init?.headers).get('range');
  if (method === 'HEAD' || range) return new Response(null, { status: 200, headers });
  return new Response(file.open(), { status: 200, headers });
}

/**
 * Serves `files` until the returned function is called; other URLs starting with `prefix` answer 404 without any
 * network request. A URL already being served is refused (one load at a time).
 */
export function serveFiles(files: readonly ServedFile[], prefix?: string): () => void {
  install();
  const keys = files.map((f) => absoluteURL(f.url));
  for (const key of keys) {
    if (served.has(key)) throw new Error(`transformers-seggpt: ${key} is already being converted by another load`);
  }
  keys.forEach((key, i) => served.set(key, files[i]));
  const prefixKey = prefix === undefined ? undefined : absoluteURL(prefix);
  if (prefixKey) prefixes.set(prefixKey, (prefixes.get(prefixKey) ?? 0) + 1);
  return () => {
    for (const [i, key] of keys.entries()) if (served.get(key) === files[i]) served.delete(key);
    if (prefixKey) {
      const count = (prefixes.get(prefixKey) ?? 1) - 1;
      if (count > 0) prefixes.set(prefixKey, count);
      else prefixes.delete(prefixKey);
    }
  };
}

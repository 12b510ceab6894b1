/**
 * Checkpoint files over HTTP, read with `Range` requests: a 1.5 GB model.safetensors is fetched block by block as
 * the converter asks for tensors, never as a whole. Works with any `fetch` (Node, browsers, a Web Worker, a user's
 * proxying fetch). Redirects are followed; a token is only ever sent to the origin it was given for.
 */
import { CheckpointError, HubError } from '../errors.js';
import { bytesSource, checkRange, type ByteSource, type CheckpointFiles } from './byte_source.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpSourceOptions {
  /** Default: the global fetch. */
  fetch?: FetchLike;
  /** Sent with every request to `tokenOrigin` only (never after a redirect to another origin). */
  token?: string;
  /** The origin the token belongs to, e.g. `https://huggingface.co`. Default: the origin of the first URL. */
  tokenOrigin?: string;
  signal?: AbortSignal;
  /** Called with the bytes received so far by this source. */
  onBytes?: (loaded: number, total: number) => void;
  /** Bytes per block; reads are served from cached blocks. Default 8 MiB. */
  blockBytes?: number;
  /** Blocks kept (least recently used dropped first). Default 12 (96 MiB at the default block size). */
  cacheBlocks?: number;
  /** Extra blocks fetched after a miss, in the same request (tensors of one layer sit together). Default 1. */
  readaheadBlocks?: number;
  /** Announced reads (willRead) are fetched ahead: at most this many bytes fetched and not yet read. Default 64 MiB. */
  prefetchBytes?: number;
  /** Announced reads: at most this many requests at once. Default 4. */
  prefetchRequests?: number;
}

/** Announced reads closer than this are fetched in one request. */
const MERGE_GAP_BYTES = 1 << 20;
/** A request for announced reads spans at most this much (a single larger tensor gets one of its own). */
const MAX_MERGED_BYTES = 16 << 20;

/** Announced reads that are fetched together. */
interface PrefetchUnit {
  start: number;
  end: number;
  /** Announced reads in it not yet served. */
  pending: number;
  bytes?: Promise<Uint8Array>;
  done: boolean;
}

/** Small files (JSON) may come back whole from a server that ignores `Range`; larger ones must be ranged. */
const WHOLE_FILE_LIMIT = 64 * 1024 * 1024;
const MAX_REDIRECTS = 10;

interface RangeAnswer {
  status: number;
  response: Response;
  url: string;
}

class HttpRequester {
  constructor(
    readonly url: string,
    private readonly options: HttpSourceOptions,
  ) {}

  private get fetchFn(): FetchLike {
    return this.options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** GET with `Range: bytes=start-end` (inclusive), following redirects by hand when a token is attached. */
  async get(start: number, end: number): Promise<RangeAnswer> {
    const { token, signal } = this.options;
    const tokenOrigin = this.options.tokenOrigin ?? new URL(this.url).origin;
    let url = this.url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const withToken = token !== undefined && sameOrigin(url, tokenOrigin);
      const headers: Record<string, string> = { Range: `bytes=${start}-${end}` };
      if (withToken) headers.Authorization = `Bearer ${token}`;
      let response: Response;
      try {
        response = await this.fetchFn(url, { headers, signal, cache: 'no-store', redirect: withToken ? 'manual' : 'follow' });
      } catch (error) {
        if (signal?.aborted || (error as Error)?.name === 'AbortError') throw abortError(signal);
        throw new HubError(`cannot reach ${hostOf(url)} to read ${this.url} (${describeNetworkError(error)}): check the network connection and the host`, { cause: error });
      }
      const location = response.headers.get('location');
      if (withToken && response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel().catch(() => undefined);
        url = new URL(location, url).href;
        continue;
      }
      return { status: response.status, response, url };
    }
    throw new HubError(`${this.url}: more than ${MAX_REDIRECTS} redirects; check the host`);
  }
}

/** One file read over HTTP. */
class HttpByteSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  readonly #requester: HttpRequester;
  readonly #options: HttpSourceOptions;
  readonly #blockBytes: number;
  readonly #blocks = new Map<number, Uint8Array>();
  #loaded = 0;
  readonly #units: PrefetchUnit[] = [];
  /** Announced reads by `offset:length`: the requests that hold them (several for a read larger than one request). */
  readonly #planned = new Map<string, PrefetchUnit[]>();
  #nextUnit = 0;
  #active = 0;
  #buffered = 0;

  constructor(requester: HttpRequester, size: number, options: HttpSourceOptions, first?: { start: number; bytes: Uint8Array }) {
    this.name = requester.url;
    this.size = size;
    this.#requester = requester;
    this.#options = options;
    this.#blockBytes = options.blockBytes ?? 8 * 1024 * 1024;
    if (first) this.#store(first.start, first.bytes);
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    await this.readInto(offset, out);
    return out;
  }

  /**
   * Announced reads are grouped into requests (neighbours merged) and fetched ahead, a few at a time, within a byte
   * budget; each group is dropped once all its reads are served. Reads already held in the block cache are skipped.
   */
  willRead(ranges: readonly { offset: number; length: number }[]): void {
    let unit: PrefetchUnit | undefined;
    for (const { offset, length } of ranges) {
      const key = `${offset}:${length}`;
      if (length === 0 || this.#cached(offset, length) || this.#planned.has(key)) continue;
      const end = offset + length;
      if (length > MAX_MERGED_BYTES) {
        // A large tensor comes in parts, copied into its array as they arrive (no buffer of its whole size).
        const parts: PrefetchUnit[] = [];
        for (let start = offset; start < end; start += MAX_MERGED_BYTES) parts.push({ start, end: Math.min(end, start + MAX_MERGED_BYTES), pending: 1, done: false });
        this.#units.push(...parts);
        this.#planned.set(key, parts);
        unit = undefined;
        continue;
      }
      if (unit && offset >= unit.end && offset - unit.end <= MERGE_GAP_BYTES && end - unit.start <= MAX_MERGED_BYTES) {
        unit.end = end;
        unit.pending++;
      } else {
        unit = { start: offset, end, pending: 1, done: false };
        this.#units.push(unit);
      }
      this.#planned.set(key, [unit]);
    }
    this.#pump();
  }

  #cached(offset: number, length: number): boolean {
    const B = this.#blockBytes;
    for (let b = Math.floor(offset / B); b <= Math.floor((offset + length - 1) / B); b++) if (!this.#blocks.has(b)) return false;
    return true;
  }

  #fetchUnit(unit: PrefetchUnit): Promise<Uint8Array> {
    if (!unit.bytes) {
      this.#active++;
      this.#buffered += unit.end - unit.start;
      unit.bytes = this.#fetchRange(unit.start, unit.end - unit.start);
      unit.bytes
        .catch(() => undefined)
        .finally(() => {
          this.#active--;
          this.#pump();
        });
    }
    return unit.bytes;
  }

  #pump(): void {
    const budget = this.#options.prefetchBytes ?? 64 << 20;
    const requests = this.#options.prefetchRequests ?? 4;
    while (this.#nextUnit < this.#units.length && this.#active < requests) {
      const unit = this.#units[this.#nextUnit];
      if (unit.bytes) {
        this.#nextUnit++;
        continue;
      }
      if (this.#buffered > 0 && this.#buffered + (unit.end - unit.start) > budget) break;
      this.#nextUnit++;
      void this.#fetchUnit(unit);
    }
  }

  /** Takes an announced read off the plan: the requests that hold it, or null for a read never announced. */
  #takePlanned(offset: number, length: number): PrefetchUnit[] | null {
    const key = `${offset}:${length}`;
    const units = this.#planned.get(key);
    if (!units || units.some((u) => u.done)) return null;
    this.#planned.delete(key);
    return units;
  }

  /** The bytes of `unit` from `from` to `to` (absolute), releasing the request once all its reads are served. */
  async #serve(unit: PrefetchUnit, from: number, to: number): Promise<Uint8Array> {
    const bytes = await this.#fetchUnit(unit);
    if (--unit.pending === 0) {
      unit.done = true;
      unit.bytes = undefined;
      this.#buffered -= unit.end - unit.start;
      this.#pump();
    }
    return bytes.subarray(from - unit.start, to - unit.start);
  }

  async readView(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.name, this.size, offset, length);
    const units = this.#takePlanned(offset, length);
    if (units?.length === 1) return this.#serve(units[0], offset, offset + length);
    const out = new Uint8Array(length);
    await (units ? this.#servePartsInto(units, offset, out) : this.readInto(offset, out));
    return out;
  }

  async #servePartsInto(units: PrefetchUnit[], offset: number, target: Uint8Array): Promise<void> {
    for (const unit of units) {
      const from = Math.max(offset, unit.start);
      const to = Math.min(offset + target.length, unit.end);
      target.set(await this.#serve(unit, from, to), from - offset);
    }
  }

  async readInto(offset: number, target: Uint8Array): Promise<void> {
    checkRange(this.name, this.size, offset, target.length);
    if (target.length === 0) return;
    const units = this.#takePlanned(offset, target.length);
    if (units) {
      await this.#servePartsInto(units, offset, target);
      return;
    }
    const B = this.#blockBytes;
    const first = Math.floor(offset / B);
    const last = Math.floor((offset + target.length - 1) / B);
    await this.#ensure(first, last);
    for (let b = first; b <= last; b++) {
      const block = this.#blocks.get(b)!;
      // LRU: re-insert so the block counts as most recently used.
      this.#blocks.delete(b);
      this.#blocks.set(b, block);
      const blockStart = b * B;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + target.length, blockStart + block.length);
      target.set(block.subarray(from - blockStart, to - blockStart), from - offset);
    }
    this.#evict(last - first + 1);
  }

  async #ensure(first: number, last: number): Promise<void> {
    const B = this.#blockBytes;
    const lastBlock = Math.floor((this.size - 1) / B);
    for (let b = first; b <= last; b++) {
      if (this.#blocks.has(b)) continue;
      // One request for this run of missing blocks, plus read-ahead.
      let end = b;
      while (end < last && !this.#blocks.has(end + 1)) end++;
      const ahead = Math.min(lastBlock, end + (this.#options.readaheadBlocks ?? 1));
      while (end < ahead && !this.#blocks.has(end + 1)) end++;
      const start = b * B;
      const stop = Math.min(this.size, (end + 1) * B);
      const bytes = await this.#fetchRange(start, stop - start);
      this.#store(start, bytes);
      b = end;
    }
  }

  async #fetchRange(start: number, length: number): Promise<Uint8Array> {
    const answer = await this.#requester.get(start, start + length - 1);
    if (answer.status !== 206) {
      await answer.response.body?.cancel().catch(() => undefined);
      if (answer.status === 200) {
        throw new HubError(`${this.name}: the server ignored the Range request (answered 200 with the whole file); serve the checkpoint from a server that supports Range requests`);
      }
      throw statusError(answer.status, this.name);
    }
    const range = parseContentRange(answer.response.headers.get('content-range'));
    if (range && (range.start !== start || (range.total !== undefined && range.total !== this.size))) {
      await answer.response.body?.cancel().catch(() => undefined);
      throw new HubError(`${this.name}: the server answered bytes ${range.start}-… of ${range.total} for a request of bytes ${start}-… of ${this.size}; the file changed while it was read — retry`);
    }
    const bytes = await readBody(answer.response, length, this.name, this.#options.signal);
    this.#loaded += bytes.length;
    this.#options.onBytes?.(this.#loaded, this.size);
    return bytes;
  }

  #store(start: number, bytes: Uint8Array): void {
    const B = this.#blockBytes;
    for (let at = 0; at < bytes.length; at += B) {
      const b = (start + at) / B;
      if (!Number.isInteger(b)) throw new Error(`block store at unaligned offset ${start + at}`);
      this.#blocks.set(b, bytes.subarray(at, Math.min(bytes.length, at + B)));
    }
  }

  #evict(keepAtLeast: number): void {
    const capacity = Math.max(this.#options.cacheBlocks ?? 12, keepAtLeast);
    while (this.#blocks.size > capacity) this.#blocks.delete(this.#blocks.keys().next().value!);
  }

  async close(): Promise<void> {
    this.#blocks.clear();
    this.#units.length = 0;
    this.#planned.clear();
  }
}

/**
 * Opens `url` for ranged reads: the first block is fetched at once (it holds a safetensors header). Answers null
 * for 404; throws HubError for other failures (auth, server errors, network).
 */
export async function openHttpSource(url: string, options: HttpSourceOptions = {}): Promise<ByteSource | null> {
  const requester = new HttpRequester(url, options);
  const blockBytes = options.blockBytes ?? 8 * 1024 * 1024;
  const answer = await requester.get(0, blockBytes - 1);
  const { status, response } = answer;
  if (status === 404) {
    await response.body?.cancel().catch(() => undefined);
    return null;
  }
  if (status === 416) {
    // Range not satisfiable for bytes=0-…: the file is empty.
    await response.body?.cancel().catch(() => undefined);
    return bytesSource(new Uint8Array(0), url);
  }
  if (status === 200) {
    const length = Number(response.headers.get('content-length') ?? NaN);
    if (Number.isFinite(length) && length > WHOLE_FILE_LIMIT) {
      await response.body?.cancel().catch(() => undefined);
      throw new HubError(`${url}: the server ignored the Range request and would send all ${length} bytes; serve the checkpoint from a server that supports Range requests`);
    }
    const bytes = await readBody(response, Number.isFinite(length) ? length : undefined, url, options.signal, WHOLE_FILE_LIMIT);
    options.onBytes?.(bytes.length, bytes.length);
    return bytesSource(bytes, url);
  }
  if (status !== 206) {
    await response.body?.cancel().catch(() => undefined);
    throw statusError(status, url);
  }
  const range = parseContentRange(response.headers.get('content-range'));
  if (!range || range.start !== 0 || range.total === undefined) {
    await response.body?.cancel().catch(() => undefined);
    throw new HubError(`${url}: the server's partial answer has no usable Content-Range header (${response.headers.get('content-range')}); use a server that supports Range requests`);
  }
  const bytes = await readBody(response, range.end - range.start + 1, url, options.signal);
  options.onBytes?.(bytes.length, range.total);
  return new HttpByteSource(requester, range.total, options, { start: 0, bytes });
}

/** The files of a checkpoint under `baseUrl` (`…/resolve/main/`, or a folder URL), each opened for ranged reads. */
export function urlCheckpointFiles(baseUrl: string, options: HttpSourceOptions | ((file: string) => HttpSourceOptions) = {}, location = baseUrl): CheckpointFiles {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    location,
    open: (file) => openHttpSource(base + file, typeof options === 'function' ? options(file) : options),
  };
}

/** Reads a response body of exactly `expected` bytes (or up to `limit` when the length is unknown). */
async function readBody(response: Response, expected: number | undefined, name: string, signal?: AbortSignal, limit = Infinity): Promise<Uint8Array> {
  const reader = response.body?.getReader();
  if (!reader) return new Uint8Array(0);
  // With a known length the body goes straight into one buffer; otherwise chunks are joined at the end.
  const whole = expected !== undefined ? new Uint8Array(expected) : undefined;
  const chunks: Uint8Array[] = [];
  let received = 0;
  const cap = expected ?? limit;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (received + value.length > cap) {
        await reader.cancel().catch(() => undefined);
        throw new HubError(`${name}: the server sent more than the ${cap} bytes it announced; the download is corrupted — retry`);
      }
      if (whole) whole.set(value, received);
      else chunks.push(value);
      received += value.length;
    }
  } catch (error) {
    if (error instanceof HubError) throw error;
    if (signal?.aborted || (error as Error)?.name === 'AbortError') throw abortError(signal);
    throw new HubError(`${name}: the connection was lost after ${received} bytes (${describeNetworkError(error)}); retry`, { cause: error });
  }
  if (expected !== undefined && received !== expected) {
    throw new HubError(`${name}: the server sent ${received} of the ${expected} bytes asked for; the connection was cut — retry`);
  }
  if (whole) return whole;
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(received);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function parseContentRange(value: string | null): { start: number; end: number; total?: number } | undefined {
  const match = value?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: match[3] === '*' ? undefined : Number(match[3]) };
}

function statusError(status: number, url: string): HubError | CheckpointError {
  if (status === 401 || status === 403) {
    return new HubError(`${url}: access denied (${status}); the repo is private or gated — accept its terms on the hub and use a token with read access (HF_TOKEN)`);
  }
  if (status === 404) return new CheckpointError(`${url}: not found (404)`);
  if (status === 429) return new HubError(`${url}: the server asks to slow down (429 Too Many Requests); retry later`);
  return new HubError(`${url}: the server answered ${status}; retry later, or check the host`);
}

function sameOrigin(url: string, origin: string): boolean {
  try {
    return new URL(url).origin === new URL(origin).origin;
  } catch {
    return false;
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

/** The most specific reason a fetch failed (undici hides it in `cause`). */
export function describeNetworkError(error: unknown): string {
  let e = error as { message?: string; code?: string; cause?: unknown } | undefined;
  let text = e?.message ?? String(error);
  for (let depth = 0; e && depth < 4; depth++) {
    if (typeof e.code === 'string') return `${e.code}${e.message && e.message !== e.code ? `: ${e.message}` : ''}`;
    text = e.message ?? text;
    e = e.cause as typeof e;
  }
  return text;
}

export function abortError(signal?: AbortSignal): Error {
  const reason = signal?.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return Object.assign(new Error(reason instanceof Error ? reason.message : 'The operation was aborted'), { name: 'AbortError', cause: reason });
}

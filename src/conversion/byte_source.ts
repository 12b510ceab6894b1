/**
 * Random-access bytes: what the converter reads checkpoints from. A local file (Node), a Blob (browsers), an HTTP
 * resource read with Range requests, or bytes already in memory all look the same to the safetensors reader.
 */

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Where the bytes come from (a path or URL), for error messages. */
  readonly name: string;
  /** Exactly `length` bytes from `offset`; rejects when the source ends early or cannot be read. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Fills `target` from `offset`, for sources that can write straight into the caller's memory (files). */
  readInto?(offset: number, target: Uint8Array): Promise<void>;
  /**
   * Like read, but the bytes may be a view of the source's own memory (no copy): treat them as read-only. Sources
   * that fetch into buffers (HTTP) offer it.
   */
  readView?(offset: number, length: number): Promise<Uint8Array>;
  /** The reads that will follow, in order: a source with latency (HTTP) fetches ahead of them. */
  willRead?(ranges: readonly ByteRange[]): void;
  close?(): Promise<void>;
}

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * The files of one checkpoint (config.json, model.safetensors, shards …) by their path inside the repo or folder.
 * `open` answers null for a file that does not exist; any other failure rejects.
 */
export interface CheckpointFiles {
  /** The folder or repo, for error messages. */
  readonly location: string;
  open(file: string): Promise<ByteSource | null>;
}

/** Bytes already in memory. */
export function bytesSource(bytes: Uint8Array, name = 'memory'): ByteSource {
  return {
    size: bytes.length,
    name,
    async read(offset, length) {
      checkRange(name, bytes.length, offset, length);
      return bytes.subarray(offset, offset + length);
    },
  };
}

/** A Blob or File (e.g. a checkpoint the user picked in a browser), read slice by slice. */
export function blobSource(blob: Blob, name = (blob as { name?: string }).name ?? 'blob'): ByteSource {
  return {
    size: blob.size,
    name,
    async read(offset, length) {
      checkRange(name, blob.size, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** Checkpoint files held in memory or as Blobs, keyed by path ('config.json', 'model.safetensors', …). */
export function memoryCheckpointFiles(files: Record<string, Uint8Array | Blob>, location = 'memory'): CheckpointFiles {
  return {
    location,
    async open(file) {
      const value = files[file];
      if (value === undefined) return null;
      return value instanceof Uint8Array ? bytesSource(value, `${location}/${file}`) : blobSource(value, `${location}/${file}`);
    },
  };
}

/** The whole content of a (small) source, e.g. a JSON file. */
export async function readAll(source: ByteSource): Promise<Uint8Array> {
  return source.read(0, source.size);
}

export async function readText(source: ByteSource): Promise<string> {
  return new TextDecoder('utf-8').decode(await readAll(source));
}

export function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > size) {
    throw new RangeError(`${name}: bytes [${offset}, ${offset + length}) are outside the ${size}-byte source`);
  }
}

import { describeValue } from '../configs/validate.js';
import { CheckpointError } from '../errors.js';
import { readText, type ByteSource, type CheckpointFiles } from './byte_source.js';

/**
 * Strict safetensors reader over any ByteSource (a file, a Blob, HTTP Range requests). The header is validated
 * completely (dtypes, shapes, offsets that tile the data section up to the end) before any tensor memory is
 * allocated; tensors are then read one at a time, so a checkpoint is never held in memory as a whole.
 */

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute position of the first byte in the file. */
  byteOffset: number;
  byteLength: number;
  /** The file holding the tensor (its path or URL). */
  file: string;
}

/** What a checkpoint (one file or shards) offers the converter. */
export interface CheckpointWeights {
  /** Every tensor by name, in file order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  info(name: string): TensorInfo;
  readFloat32(name: string): Promise<Float32Array>;
  /** The tensors that will be read, in order (sources with latency fetch ahead). Unknown names are ignored. */
  willRead(names: readonly string[]): void;
  close(): Promise<void>;
}

/** The format's own cap on the JSON header (safetensors MAX_HEADER_SIZE). */
export const MAX_HEADER_BYTES = 100_000_000;
/**
 * What this reader accepts, far below the format's cap: a SegGPT header is ~40 KB (ViT-L, 354 tensors). Larger
 * headers only cost memory and time to parse.
 */
export const MAX_READ_HEADER_BYTES = 16 * 1024 * 1024;
export const MAX_TENSORS = 120_000;

export const WEIGHTS_FILE = 'model.safetensors';
export const WEIGHTS_INDEX_FILE = 'model.safetensors.index.json';
const PICKLE_FILES = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];

const ITEM_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F16: 2, BF16: 2 };
/** Dtypes the format defines but a float checkpoint converter cannot use. */
const OTHER_DTYPES = new Set(['F64', 'F8_E4M3', 'F8_E5M2', 'F8_E8M0', 'F6_E2M3', 'F6_E3M2', 'F4', 'I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8', 'BOOL', 'C64']);
const REDOWNLOAD = 're-download the checkpoint (or re-save it with safetensors)';
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export class SafetensorsFile implements CheckpointWeights {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  #source: ByteSource | null;

  private constructor(source: ByteSource, metadata: Record<string, string>, tensors: Map<string, TensorInfo>) {
    this.path = source.name;
    this.#source = source;
    this.metadata = metadata;
    this.tensors = tensors;
  }

  /** Reads and validates the header of a .safetensors source; throws CheckpointError naming the file and what is wrong. */
  static async open(source: ByteSource): Promise<SafetensorsFile> {
    try {
      const header = await readHeader(source);
      return new SafetensorsFile(source, header.metadata, header.tensors);
    } catch (error) {
      await source.close?.();
      throw error;
    }
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.path}: tensor "${name}" is missing; the checkpoint does not match this model — ${REDOWNLOAD}`);
    return info;
  }

  willRead(names: readonly string[]): void {
    const ranges = names.flatMap((name) => {
      const info = this.tensors.get(name);
      return info && info.byteLength > 0 ? [{ offset: info.byteOffset, length: info.byteLength }] : [];
    });
    this.#source?.willRead?.(ranges);
  }

  /** Reads one tensor (only its bytes), converting F16/BF16 to float32. Treat the result as read-only. */
  async readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    const source = this.#source;
    if (!source) throw new CheckpointError(`${this.path}: cannot read "${name}": the file was already closed; open it again`);
    const count = info.byteLength / ITEM_SIZE[info.dtype];
    if (info.dtype === 'F32' && LITTLE_ENDIAN && source.readView) {
      // A source that already holds the bytes in memory hands out a view: no copy of the tensor.
      const view = await readTensorView(source, info);
      if (view.byteOffset % 4 === 0) return new Float32Array(view.buffer, view.byteOffset, count);
      return new Float32Array(view.slice().buffer);
    }
    const out = new Float32Array(count);
    if (info.dtype === 'F32') {
      const target = new Uint8Array(out.buffer);
      await readTensorBytes(source, info, target);
      if (!LITTLE_ENDIAN) swapBytes(target, 4);
      return out;
    }
    // 16-bit values are widened in place: the upper half of `out` first holds the raw halves.
    const raw = new Uint16Array(out.buffer, count * 2, count);
    await readTensorBytes(source, info, new Uint8Array(raw.buffer, raw.byteOffset, info.byteLength));
    if (!LITTLE_ENDIAN) swapBytes(new Uint8Array(raw.buffer, raw.byteOffset, info.byteLength), 2);
    const bits = new Uint32Array(out.buffer);
    // Ascending order is safe: bits[i] ends at byte 4i+4 ≤ 2count+2i+2, where raw[i+1] (not yet read) begins.
    if (info.dtype === 'BF16') for (let i = 0; i < count; i++) bits[i] = raw[i] << 16;
    else for (let i = 0; i < count; i++) bits[i] = halfToFloatBits(raw[i]);
    return out;
  }

  async close(): Promise<void> {
    const source = this.#source;
    this.#source = null;
    await source?.close?.();
  }
}

async function readTensorView(source: ByteSource, info: TensorInfo): Promise<Uint8Array> {
  try {
    return await source.readView!(info.byteOffset, info.byteLength);
  } catch (error) {
    throw tensorReadError(source, info, error);
  }
}

function tensorReadError(source: ByteSource, info: TensorInfo, error: unknown): Error {
  if (error instanceof CheckpointError || (error as Error)?.name === 'AbortError' || (error as Error)?.name === 'HubError') return error as Error;
  return new CheckpointError(`${source.name}: cannot read tensor "${info.name}" (${(error as Error).message}); the file changed since it was opened — ${REDOWNLOAD}`, {
    cause: error,
  });
}

/** Copies the tensor's bytes into `target` (straight from the source when it can write into caller memory). */
async function readTensorBytes(source: ByteSource, info: TensorInfo, target: Uint8Array): Promise<void> {
  try {
    if (source.readInto) await source.readInto(info.byteOffset, target);
    else target.set(await source.read(info.byteOffset, info.byteLength));
  } catch (error) {
    throw tensorReadError(source, info, error);
  }
}

/**
 * Opens the weights of a checkpoint: `model.safetensors`, or the shards listed by `model.safetensors.index.json`.
 * Throws CheckpointError naming the missing or broken file; a PyTorch pickle checkpoint is named, never read.
 */
export async function openCheckpointWeights(files: CheckpointFiles): Promise<CheckpointWeights> {
  const single = await files.open(WEIGHTS_FILE);
  if (single) return SafetensorsFile.open(single);
  const index = await files.open(WEIGHTS_INDEX_FILE);
  if (index) return openSharded(files, index);
  throw await missingWeightsError(files);
}

/** Why a checkpoint has no usable weights: pickle only, or nothing at all. */
export async function missingWeightsError(files: CheckpointFiles): Promise<CheckpointError> {
  for (const pickle of PICKLE_FILES) {
    const found = await files.open(pickle);
    if (found) {
      await found.close?.();
      return new CheckpointError(
        `${files.location}: only ${pickle} found; PyTorch pickle checkpoints are never read (unpickling can run arbitrary code) — convert to safetensors first ` +
          `(in Python: SegGptForImageSegmentation.from_pretrained(path).save_pretrained(out, safe_serialization=True))`,
      );
    }
  }
  return new CheckpointError(`${files.location}: neither ${WEIGHTS_FILE} nor ${WEIGHTS_INDEX_FILE} found; a SegGPT checkpoint holds config.json, preprocessor_config.json and ${WEIGHTS_FILE}`);
}

class ShardedCheckpoint implements CheckpointWeights {
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly #shards: Map<string, SafetensorsFile>;
  readonly #index: string;

  constructor(index: string, shards: Map<string, SafetensorsFile>, tensors: Map<string, TensorInfo>) {
    this.#index = index;
    this.#shards = shards;
    this.tensors = tensors;
  }

  info(name: string): TensorInfo {
    const info = this.tensors.get(name);
    if (!info) throw new CheckpointError(`${this.#index}: tensor "${name}" is in none of the shards; the checkpoint does not match this model — ${REDOWNLOAD}`);
    return info;
  }

  readFloat32(name: string): Promise<Float32Array> {
    const info = this.info(name);
    return this.#shards.get(info.file)!.readFloat32(name);
  }

  willRead(names: readonly string[]): void {
    for (const [file, shard] of this.#shards) shard.willRead(names.filter((name) => this.tensors.get(name)?.file === file));
  }

  async close(): Promise<void> {
    await Promise.all([...this.#shards.values()].map((shard) => shard.close()));
  }
}

async function openSharded(files: CheckpointFiles, indexSource: ByteSource): Promise<CheckpointWeights> {
  const index = indexSource.name;
  let json: unknown;
  try {
    json = JSON.parse(await readText(indexSource));
  } catch (error) {
    throw new CheckpointError(`${index}: not valid JSON (${(error as Error).message}); ${REDOWNLOAD}`, { cause: error });
  } finally {
    await indexSource.close?.();
  }
  const weightMap = (json as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new CheckpointError(`${index}: "weight_map" (tensor name → shard file) is missing or not an object; ${REDOWNLOAD}`);
  }
  const entries = Object.entries(weightMap as Record<string, unknown>);
  for (const [name, file] of entries) {
    if (typeof file !== 'string' || file === '' || /[\\/]/.test(file) || file === '.' || file === '..') {
      throw new CheckpointError(`${index}: weight_map["${name}"] must be a shard file name in the same folder (got ${describeValue(file)}); ${REDOWNLOAD}`);
    }
  }
  const shardNames = [...new Set(entries.map(([, file]) => file as string))].sort();
  const shards = new Map<string, SafetensorsFile>();
  const byShardName = new Map<string, string>();
  try {
    for (const shardName of shardNames) {
      const source = await files.open(shardName);
      if (!source) throw new CheckpointError(`${files.location}/${shardName}: shard listed in ${WEIGHTS_INDEX_FILE} is missing; download every model-*.safetensors shard`);
      const shard = await SafetensorsFile.open(source);
      shards.set(shard.path, shard);
      byShardName.set(shardName, shard.path);
    }
    const tensors = new Map<string, TensorInfo>();
    for (const shard of shards.values()) {
      for (const [name, info] of shard.tensors) {
        const previous = tensors.get(name);
        if (previous) throw new CheckpointError(`${shard.path}: tensor "${name}" is also stored in ${previous.file}; ${REDOWNLOAD}`);
        tensors.set(name, info);
      }
    }
    for (const [name, file] of entries) {
      const path = byShardName.get(file as string)!;
      if (tensors.get(name)?.file !== path) {
        throw new CheckpointError(`${path}: tensor "${name}" is listed in ${WEIGHTS_INDEX_FILE} for this shard but the shard does not hold it; ${REDOWNLOAD}`);
      }
    }
    return new ShardedCheckpoint(index, shards, tensors);
  } catch (error) {
    await Promise.all([...shards.values()].map((shard) => shard.close()));
    throw error;
  }
}

interface ParsedHeader {
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
}

async function readHeader(source: ByteSource): Promise<ParsedHeader> {
  const path = source.name;
  const fileSize = source.size;
  if (fileSize < 8) throw new CheckpointError(`${path}: ${fileSize} bytes is too short for a safetensors file (needs an 8-byte header length); ${REDOWNLOAD}`);
  const prefix = await source.read(0, 8);
  const headerLength = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw new CheckpointError(`${path}: header length ${headerLength} exceeds the safetensors cap of ${MAX_HEADER_BYTES} bytes — not a safetensors file or corrupted; ${REDOWNLOAD}`);
  }
  const length = Number(headerLength);
  if (length > MAX_READ_HEADER_BYTES) {
    throw new CheckpointError(
      `${path}: the header is ${length} bytes; SegGPT checkpoints need well under ${MAX_READ_HEADER_BYTES} (ViT-L: about 40 KB) — not a SegGPT checkpoint, or corrupted; ${REDOWNLOAD}`,
    );
  }
  if (8 + length > fileSize) {
    throw new CheckpointError(`${path}: header length ${length} runs past the end of the file (${fileSize} bytes) — truncated or not a safetensors file; ${REDOWNLOAD}`);
  }
  const headerBytes = await source.read(8, length);
  return parseHeader(headerBytes, path, 8 + length, fileSize);
}

function parseHeader(bytes: Uint8Array, path: string, dataStart: number, fileSize: number): ParsedHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    throw new CheckpointError(`${path}: the header is not valid UTF-8 JSON (${(error as Error).message}); ${REDOWNLOAD}`, { cause: error });
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new CheckpointError(`${path}: the header must be a JSON object of tensors; ${REDOWNLOAD}`);
  }
  const entries = Object.keys(json as object).length;
  if (entries > MAX_TENSORS + 1) {
    throw new CheckpointError(`${path}: the header lists ${entries} tensors; SegGPT checkpoints have a few hundred (at most ${MAX_TENSORS} are read) — not a SegGPT checkpoint; ${REDOWNLOAD}`);
  }
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const found: TensorInfo[] = [];
  const begins = new Map<string, number>();
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || !Object.values(entry).every((v) => typeof v === 'string')) {
        throw new CheckpointError(`${path}: "__metadata__" must map strings to strings; ${REDOWNLOAD}`);
      }
      Object.assign(metadata, entry);
      continue;
    }
    const info = parseEntry(name, entry, path, dataStart, dataSize);
    begins.set(name, info.byteOffset - dataStart);
    found.push(info);
  }
  // The tensors must tile the data section exactly: no overlap, no gap, nothing after the last one.
  const ordered = [...found].sort((a, b) => a.byteOffset - b.byteOffset || a.byteLength - b.byteLength);
  let cursor = dataStart;
  let previous: TensorInfo | undefined;
  for (const info of ordered) {
    if (info.byteOffset < cursor) {
      throw new CheckpointError(`${path}: tensor "${info.name}" (data_offsets from ${begins.get(info.name)}) overlaps "${previous!.name}"; the header is corrupted — ${REDOWNLOAD}`);
    }
    if (info.byteOffset > cursor) {
      throw new CheckpointError(
        `${path}: ${info.byteOffset - cursor} unused bytes before tensor "${info.name}" (data_offsets from ${begins.get(info.name)}); the tensors must fill the data section without gaps — ${REDOWNLOAD}`,
      );
    }
    cursor = info.byteOffset + info.byteLength;
    previous = info;
  }
  if (cursor !== fileSize) {
    throw new CheckpointError(`${path}: ${fileSize - cursor} bytes after the last tensor are not described by the header; the file is corrupted — ${REDOWNLOAD}`);
  }
  return { metadata, tensors: new Map(ordered.map((info) => [info.name, info])) };
}

function parseEntry(name: string, entry: unknown, path: string, dataStart: number, dataSize: number): TensorInfo {
  const where = `${path}: tensor ${describeValue(name)}`;
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new CheckpointError(`${where}: header entry must be an object with dtype, shape and data_offsets; ${REDOWNLOAD}`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
    const known = typeof dtype === 'string' && OTHER_DTYPES.has(dtype);
    throw new CheckpointError(
      `${where}: dtype ${describeValue(dtype)} is ${known ? 'not supported' : 'unknown'}; only floating-point checkpoints (F32, F16, BF16) are supported — ` +
        'save the model in float32 (torch_dtype=float32) with safetensors',
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new CheckpointError(`${where}: shape ${describeValue(shape)} must be a list of non-negative integers; ${REDOWNLOAD}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    throw new CheckpointError(`${where}: data_offsets ${describeValue(offsets)} must be [begin, end] with 0 ≤ begin ≤ end; ${REDOWNLOAD}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataSize) {
    throw new CheckpointError(
      `${where}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataSize} bytes) — the file is truncated or corrupted; ${REDOWNLOAD}`,
    );
  }
  const itemSize = ITEM_SIZE[dtype as SafetensorsDtype];
  let expected = itemSize;
  for (const d of shape as number[]) expected *= d;
  if (expected !== end - begin) {
    throw new CheckpointError(
      `${where}: shape ${describeValue(shape)} × ${dtype} (${itemSize} bytes) needs ${expected} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}; ${REDOWNLOAD}`,
    );
  }
  return { name, dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], byteOffset: dataStart + begin, byteLength: end - begin, file: path };
}

/** IEEE half → float bits, exact (subnormals, infinities and NaN included). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exponent = (h >>> 10) & 0x1f;
  let mantissa = h & 0x3ff;
  if (exponent === 0x1f) return (sign | 0x7f800000 | (mantissa << 13)) >>> 0;
  if (exponent !== 0) return (sign | ((exponent + 112) << 23) | (mantissa << 13)) >>> 0;
  if (mantissa === 0) return sign >>> 0;
  // Subnormal half: normalise the mantissa.
  let e = 113;
  while ((mantissa & 0x400) === 0) {
    mantissa <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mantissa & 0x3ff) << 13)) >>> 0;
}

function swapBytes(bytes: Uint8Array, width: 2 | 4): void {
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

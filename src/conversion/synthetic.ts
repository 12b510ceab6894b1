import { promises as fs } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';
import { segGPTConfigToJSON, type SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import {
  parseSegGPTPreprocessorConfig,
  segGPTPreprocessorConfigToJSON,
  SEGGPT_PREPROCESSOR_DEFAULTS,
} from '../configs/seggpt_preprocessor_config.js';
import { expectedTensors } from './checkpoint_layout.js';

/**
 * `synthetic-v1` weights (shared/SEGGPT.md, "Synthetic full-size weights"): every tensor filled deterministically
 * from its name, so a full-size checkpoint can be rebuilt bit-exactly anywhere without downloading it.
 */

/** FNV-1a 32-bit hash of the UTF-8 bytes of `name`. */
export function fnv1a32(name: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) {
    hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  }
  return hash;
}

/** value = offset + scale·u for u in [-1, 1), chosen by the tensor's role. */
function valueRule(name: string, shape: readonly number[]): { offset: number; scale: number } {
  if (name.includes('layernorm') && name.endsWith('.weight')) return { offset: 1, scale: 0.1 };
  if (name.endsWith('.bias')) return { offset: 0, scale: 0.02 };
  if (name.endsWith('rel_pos_h') || name.endsWith('rel_pos_w')) return { offset: 0, scale: 0.1 };
  if (name.endsWith('.weight') && shape.length >= 2) {
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    return { offset: 0, scale: Math.sqrt(3 / fanIn) };
  }
  return { offset: 0, scale: 0.5 };
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Fills `out` with elements [start, start + out.length) of tensor `name` (row-major), so a large tensor can be
 * produced chunk by chunk.
 */
export function fillSyntheticRange(name: string, shape: readonly number[], start: number, out: Float32Array): void {
  if (start < 0 || start + out.length > elementCount(shape)) {
    throw new RangeError(`fillSyntheticRange: elements [${start}, ${start + out.length}) are outside "${name}" [${shape.join(', ')}]`);
  }
  const seed = fnv1a32(name) | 0;
  // The reference computes in float32: the scale is rounded to float32, then each product and sum is rounded.
  const rule = valueRule(name, shape);
  const offset = Math.fround(rule.offset);
  const scale = Math.fround(rule.scale);
  const n = out.length;
  for (let k = 0; k < n; k++) {
    // (i + 1)·0x9E3779B1 mod 2³² with i = start + k; Math.imul wraps like uint32 arithmetic.
    let x = Math.imul(start + k + 1, 0x9e3779b1) ^ seed;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b);
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35);
    x ^= x >>> 16;
    const u = ((x >>> 8) / 16777216) * 2 - 1;
    out[k] = offset + Math.fround(scale * u);
  }
}

/** Fills the first product(shape) elements of `out` with the synthetic-v1 values of tensor `name`. */
export function fillSynthetic(name: string, shape: number[], out: Float32Array): void {
  const count = elementCount(shape);
  if (out.length < count) throw new RangeError(`fillSynthetic: "${name}" [${shape.join(', ')}] needs ${count} elements, out holds ${out.length}`);
  fillSyntheticRange(name, shape, 0, out.length === count ? out : out.subarray(0, count));
}

export interface WriteSyntheticOptions {
  /** preprocessor_config.json contents; default: SegGptImageProcessor defaults at image_size[0]/2 × image_size[1]. */
  preprocessor?: object;
  /** Bytes of model.safetensors written so far and in total. */
  onProgress?: (done: number, total: number) => void;
}

/** Elements per write: 16 MiB of float32 at a time keeps memory bounded for any tensor size. */
const CHUNK_ELEMENTS = 1 << 22;

/**
 * Writes a hub-layout checkpoint folder with synthetic-v1 weights: config.json, preprocessor_config.json and
 * model.safetensors (F32, tensors in state-dict order). Each file is written under a temporary name and renamed
 * when complete; model.safetensors is streamed chunk by chunk.
 */
export async function writeSyntheticCheckpoint(config: SegGPTConfigFields, folder: string, options: WriteSyntheticOptions = {}): Promise<void> {
  const preprocessor = parseSegGPTPreprocessorConfig(
    options.preprocessor ?? {
      ...SEGGPT_PREPROCESSOR_DEFAULTS,
      size: { height: config.image_size[0] / 2, width: config.image_size[1] },
    },
    'options.preprocessor',
  );
  await fs.mkdir(folder, { recursive: true });
  await writeSafetensors(config, join(folder, 'model.safetensors'), options.onProgress);
  await writeAtomically(join(folder, 'preprocessor_config.json'), `${JSON.stringify(segGPTPreprocessorConfigToJSON(preprocessor), null, 2)}\n`);
  await writeAtomically(join(folder, 'config.json'), `${JSON.stringify(segGPTConfigToJSON({ torch_dtype: 'float32', ...config }), null, 2)}\n`);
}

async function writeSafetensors(config: SegGPTConfigFields, path: string, onProgress?: (done: number, total: number) => void): Promise<void> {
  const tensors = expectedTensors(config);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let dataBytes = 0;
  for (const { name, shape } of tensors) {
    const bytes = elementCount(shape) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [dataBytes, dataBytes + bytes] };
    dataBytes += bytes;
  }
  // Pad the header with spaces to a multiple of 8 so the data section stays aligned (as the safetensors library does).
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (Buffer.byteLength(headerText) % 8)) % 8);
  const headerBytes = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.length));
  const total = 8 + headerBytes.length + dataBytes;

  const temp = `${path}.tmp-${process.pid}`;
  const handle = await fs.open(temp, 'w');
  try {
    await writeAll(handle, prefix);
    await writeAll(handle, headerBytes);
    let done = 8 + headerBytes.length;
    onProgress?.(done, total);
    const chunk = new Float32Array(Math.min(CHUNK_ELEMENTS, Math.max(1, ...tensors.map((t) => elementCount(t.shape)))));
    const chunkBytes = new Uint8Array(chunk.buffer);
    for (const { name, shape } of tensors) {
      const count = elementCount(shape);
      for (let start = 0; start < count; start += chunk.length) {
        const n = Math.min(chunk.length, count - start);
        fillSyntheticRange(name, shape, start, chunk.subarray(0, n));
        const bytes = chunkBytes.subarray(0, n * 4);
        if (endianness() !== 'LE') for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
        await writeAll(handle, bytes);
        done += n * 4;
        onProgress?.(done, total);
      }
    }
    await handle.close();
    await fs.rename(temp, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
}

async function writeAll(handle: fs.FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`;
  await fs.writeFile(temp, text);
  await fs.rename(temp, path);
}

import { segGPTConfigToJSON, segGPTGeometry, type SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import {
  parseSegGPTPreprocessorConfig,
  segGPTPreprocessorConfigToJSON,
  SEGGPT_PREPROCESSOR_DEFAULTS,
} from '../configs/seggpt_preprocessor_config.js';
import { expectedTensors } from './checkpoint_layout.js';
import type { SerializedFile } from './onnx/serialize.js';

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

/** Elements per chunk: 16 MiB of float32 at a time keeps memory bounded for any tensor size. */
const CHUNK_ELEMENTS = 1 << 22;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The config.json and preprocessor_config.json of a synthetic checkpoint (default preprocessor: HF defaults at image_size[0]/2 × image_size[1]). */
export function syntheticConfigFiles(config: SegGPTConfigFields, preprocessor?: object): { 'config.json': string; 'preprocessor_config.json': string } {
  const processor = parseSegGPTPreprocessorConfig(
    preprocessor ?? { ...SEGGPT_PREPROCESSOR_DEFAULTS, size: { height: segGPTGeometry(config).image_height, width: segGPTGeometry(config).image_width } },
    'options.preprocessor',
  );
  return {
    'config.json': `${JSON.stringify(segGPTConfigToJSON({ torch_dtype: 'float32', ...config }), null, 2)}\n`,
    'preprocessor_config.json': `${JSON.stringify(segGPTPreprocessorConfigToJSON(processor), null, 2)}\n`,
  };
}

/** model.safetensors with synthetic-v1 weights (F32, tensors in state-dict order), as a stream of chunks. */
export function syntheticSafetensors(config: SegGPTConfigFields): SerializedFile {
  const tensors = expectedTensors(config);
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let dataBytes = 0;
  for (const { name, shape } of tensors) {
    const bytes = elementCount(shape) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [dataBytes, dataBytes + bytes] };
    dataBytes += bytes;
  }
  // Pad the header with spaces to a multiple of 8 so the data section stays aligned (as the safetensors library does).
  const encoder = new TextEncoder();
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((8 - (encoder.encode(headerText).length % 8)) % 8);
  const headerBytes = encoder.encode(headerText);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  const largest = tensors.reduce((max, t) => Math.max(max, elementCount(t.shape)), 1);
  return {
    path: 'model.safetensors',
    byteLength: 8 + headerBytes.length + dataBytes,
    async *chunks() {
      yield prefix;
      yield headerBytes;
      const chunkElements = Math.min(CHUNK_ELEMENTS, largest);
      for (const { name, shape } of tensors) {
        const count = elementCount(shape);
        for (let start = 0; start < count; start += chunkElements) {
          const chunk = new Float32Array(Math.min(chunkElements, count - start));
          fillSyntheticRange(name, shape, start, chunk);
          const bytes = new Uint8Array(chunk.buffer);
          if (!LITTLE_ENDIAN) for (let i = 0; i < bytes.length; i += 4) bytes.subarray(i, i + 4).reverse();
          yield bytes;
        }
      }
    },
  };
}

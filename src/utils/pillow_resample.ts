import type { PixelBuffer } from './pixel_buffer.js';
import { wasmKernels, type ResampleKernels } from './pillow_resample_wasm.js';

/**
 * Pillow's convolution resize (`Image.resize` with BOX, BILINEAR, HAMMING, BICUBIC or LANCZOS) on
 * 8-bit images, reproduced bit for bit in plain TypeScript so Node and browsers give the same pixels.
 *
 * What has to match Pillow exactly (libImaging/Resample.c, 8 bits per channel):
 * - Separable, horizontal pass first (only over the source rows the vertical pass will read), its
 *   result rounded and clipped to uint8, then the vertical pass. A pass is skipped when that axis
 *   keeps its size.
 * - Filter support is scaled by the shrink factor (antialiasing); taps are computed in double and
 *   normalised to sum to 1, then quantised to signed 22-bit fixed point (round half away from zero).
 * - Each output sample is `(2^21 + Σ pixel·coeff) >> 22`, clipped to 0..255.
 */

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

interface Filter {
  support: number;
  weight(x: number): number;
}

// Pillow compiles these with float literals 0.54f / 0.46f promoted to double.
const HAMMING_A = Math.fround(0.54);
const HAMMING_B = Math.fround(0.46);

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

/** Filters keyed by Pillow's resampling id (NEAREST, 0, is not a convolution). */
const FILTERS: Record<1 | 2 | 3 | 4 | 5, Filter> = {
  4: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  2: {
    support: 1,
    weight: (x) => {
      const ax = x < 0 ? -x : x;
      return ax < 1 ? 1 - ax : 0;
    },
  },
  5: {
    support: 1,
    weight: (x) => {
      let ax = x < 0 ? -x : x;
      if (ax === 0) return 1;
      if (ax >= 1) return 0;
      ax = ax * Math.PI;
      return (Math.sin(ax) / ax) * (HAMMING_A + HAMMING_B * Math.cos(ax));
    },
  },
  // Keys' cubic convolution with a = -0.5, written in Pillow's evaluation order.
  3: {
    support: 2,
    weight: (x) => {
      const ax = x < 0 ? -x : x;
      if (ax < 1) return (1.5 * ax - 2.5) * ax * ax + 1;
      if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * -0.5;
      return 0;
    },
  },
  1: { support: 3, weight: (x) => (-3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

export type ConvolutionFilterId = keyof typeof FILTERS;

/** Per output position: first source index, tap count, and `ksize` fixed-point taps. */
interface Taps {
  ksize: number;
  start: Int32Array;
  count: Int32Array;
  coeffs: Int32Array;
}

function computeTaps(inSize: number, outSize: number, filter: Filter): Taps {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const invScale = 1 / filterScale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const coeffs = new Int32Array(outSize * ksize);
  const raw = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C casts truncate toward zero; negative starts are clamped anyway.
    let lo = Math.trunc(center - support + 0.5);
    if (lo < 0) lo = 0;
    let hi = Math.trunc(center + support + 0.5);
    if (hi > inSize) hi = inSize;
    const n = hi - lo;
    let total = 0;
    for (let x = 0; x < n; x++) {
      const w = filter.weight((x + lo - center + 0.5) * invScale);
      raw[x] = w;
      total += w;
    }
    const base = xx * ksize;
    for (let x = 0; x < n; x++) {
      const k = total !== 0 ? raw[x] / total : raw[x];
      coeffs[base + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    start[xx] = lo;
    count[xx] = n;
  }
  return { ksize, start, count, coeffs };
}

function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

// ---- JavaScript passes (used where WebAssembly SIMD is unavailable) ----
// All channels of a pixel are summed in one walk over its taps. The sums are integers below 2^31 in magnitude,
// so JavaScript's doubles hold them exactly and any summation order gives Pillow's result.

/** Horizontal pass over source rows [row0, row0 + rows): output is outWidth × rows × channels. */
function horizontalPassJS(src: PixelBuffer, channels: number, row0: number, rows: number, outWidth: number, taps: Taps): Uint8ClampedArray {
  const { data, width, channels: stride } = src;
  const out = new Uint8ClampedArray(outWidth * rows * channels);
  const { ksize, start, count, coeffs } = taps;
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const rowBase = (row0 + y) * width;
    for (let xx = 0; xx < outWidth; xx++) {
      const first = (rowBase + start[xx]) * stride;
      const kBase = xx * ksize;
      const kEnd = kBase + count[xx];
      if (channels === 3) {
        let r = HALF;
        let g = HALF;
        let b = HALF;
        for (let k = kBase, p = first; k < kEnd; k++, p += stride) {
          const w = coeffs[k];
          r += data[p] * w;
          g += data[p + 1] * w;
          b += data[p + 2] * w;
        }
        out[o] = clip8(r);
        out[o + 1] = clip8(g);
        out[o + 2] = clip8(b);
        o += 3;
      } else {
        for (let c = 0; c < channels; c++) {
          let sum = HALF;
          for (let k = kBase, p = first + c; k < kEnd; k++, p += stride) sum += data[p] * coeffs[k];
          out[o++] = clip8(sum);
        }
      }
    }
  }
  return out;
}

/** Vertical pass; `rowShift` is subtracted from each tap start (the horizontal pass dropped those rows). */
function verticalPassJS(
  data: Uint8Array | Uint8ClampedArray,
  width: number,
  stride: number,
  channels: number,
  outHeight: number,
  taps: Taps,
  rowShift: number,
): Uint8ClampedArray {
  const out = new Uint8ClampedArray(width * outHeight * channels);
  const { ksize, start, count, coeffs } = taps;
  const rowStep = width * stride;
  // One output row at a time, accumulated tap row by tap row (sequential reads) into int sums.
  const sums = new Float64Array(width * channels);
  for (let yy = 0; yy < outHeight; yy++) {
    const kBase = yy * ksize;
    const kEnd = kBase + count[yy];
    sums.fill(HALF);
    for (let k = kBase, row = (start[yy] - rowShift) * rowStep; k < kEnd; k++, row += rowStep) {
      const w = coeffs[k];
      if (stride === channels) {
        for (let i = 0, p = row; i < sums.length; i++, p++) sums[i] += data[p] * w;
      } else {
        for (let x = 0, i = 0, p = row; x < width; x++, p += stride) for (let c = 0; c < channels; c++) sums[i++] += data[p + c] * w;
      }
    }
    const o = yy * sums.length;
    for (let i = 0; i < sums.length; i++) out[o + i] = clip8(sums[i]);
  }
  return out;
}

// ---- WebAssembly passes (pillow_resample_wasm.ts) ----

let wasmEnabled = true;
let cachedKernels: ResampleKernels | null | undefined;
/** Memory an instance may keep between calls; a larger one is dropped after its call. */
const KEEP_MEMORY_BYTES = 32 * 1024 * 1024;
/** Source bytes copied into WebAssembly memory per horizontal-pass call. */
const BAND_BYTES = 1 << 20;
const MAX_MEMORY_BYTES = 2 ** 31;

/**
 * Turns the WebAssembly kernels off (false) or back on (true, the default, where the runtime supports them), for
 * tests of the JavaScript passes. Returns whether the kernels are in use now.
 */
export function useWasmResample(enabled: boolean): boolean {
  wasmEnabled = enabled;
  return enabled && kernels(false) !== null;
}

/** Which implementation resizeConvolution runs on now. */
export function resampleKernel(): 'wasm-simd' | 'javascript' {
  return kernels(false) ? 'wasm-simd' : 'javascript';
}

function kernels(take: boolean): ResampleKernels | null {
  if (!wasmEnabled) return null;
  if (cachedKernels === undefined) cachedKernels = wasmKernels();
  const k = cachedKernels;
  if (take && k) cachedKernels = undefined; // re-entrancy: a nested call builds its own instance
  return k;
}

function release(k: ResampleKernels): void {
  if (k.memory.buffer.byteLength <= KEEP_MEMORY_BYTES) cachedKernels = k;
}

const align16 = (n: number) => (n + 15) & ~15;
const align4 = (n: number) => (n + 3) & ~3;

/** Bump allocator over a kernel instance's memory. */
class Arena {
  size = 16; // address 0 unused
  alloc(bytes: number): number {
    const at = this.size;
    this.size = align16(at + bytes);
    return at;
  }
}

interface TapsAt {
  taps: Taps;
  starts: number;
  counts: number;
  coeffs: number;
}

function placeTaps(arena: Arena, taps: Taps): TapsAt {
  return { taps, starts: arena.alloc(taps.start.length * 4), counts: arena.alloc(taps.count.length * 4), coeffs: arena.alloc(taps.coeffs.length * 4) };
}

function writeTaps(words: Int32Array, at: TapsAt): void {
  words.set(at.taps.start, at.starts >> 2);
  words.set(at.taps.count, at.counts >> 2);
  words.set(at.taps.coeffs, at.coeffs >> 2);
}

/**
 * resizeConvolution on the WebAssembly kernels, for a resize that needs at least one pass; null when the job does
 * not fit the kernels' memory (the caller then runs the JavaScript passes).
 */
function resizeWasm(
  k: ResampleKernels,
  src: PixelBuffer,
  outWidth: number,
  outHeight: number,
  hTaps: Taps | null,
  vTaps: Taps | null,
  channels: number,
): Uint8ClampedArray | null {
  const { width, height, channels: stride } = src;
  const srcRowBytes = width * stride;
  // Source rows the result depends on: those under the vertical taps, or all.
  const firstRow = vTaps ? vTaps.start[0] : 0;
  const lastRow = vTaps ? vTaps.start[outHeight - 1] + vTaps.count[outHeight - 1] : height;
  const rows = lastRow - firstRow;

  // Layout. The horizontal pass works on 4 rows at a time (so bands, and its output, hold whole groups of 4) and
  // reads up to 16 bytes past a row; rows of what the vertical pass reads are padded to 16 bytes.
  const arena = new Arena();
  const hAt = hTaps ? placeTaps(arena, hTaps) : null;
  const vAt = vTaps ? placeTaps(arena, vTaps) : null;
  const bandRows = hTaps ? Math.max(4, Math.min(align4(rows), Math.floor(BAND_BYTES / srcRowBytes) & ~3)) : 0;
  const scratch = hTaps ? arena.alloc(align16(srcRowBytes) * 8) : 0;
  const band = hTaps ? arena.alloc(bandRows * srcRowBytes + 16) : 0;
  const midRowBytes = hTaps ? align16(outWidth * channels) : align16(srcRowBytes);
  const mid = arena.alloc(align4(rows) * midRowBytes);
  const out = vTaps ? arena.alloc(outHeight * midRowBytes) : mid;
  // The kernels address memory with 32-bit arithmetic; beyond 2 GiB (or if the memory cannot grow) use JavaScript.
  if (arena.size > MAX_MEMORY_BYTES) return null;
  const need = arena.size - k.memory.buffer.byteLength;
  if (need > 0) {
    try {
      k.memory.grow(Math.ceil(need / 65536));
    } catch {
      return null;
    }
  }

  const bytes = new Uint8Array(k.memory.buffer);
  const words = new Int32Array(k.memory.buffer);
  if (hAt) writeTaps(words, hAt);
  if (vAt) writeTaps(words, vAt);

  if (hAt) {
    for (let r = 0; r < rows; r += bandRows) {
      const n = Math.min(bandRows, rows - r);
      const from = (firstRow + r) * srcRowBytes;
      bytes.set(src.data.subarray(from, from + n * srcRowBytes), band);
      k.hpass[channels]!(band, srcRowBytes, stride, width, n, scratch, mid + r * midRowBytes, midRowBytes, outWidth, hAt.starts, hAt.counts, hAt.coeffs, hAt.taps.ksize * 4);
    }
  } else if (midRowBytes === srcRowBytes) {
    bytes.set(src.data.subarray(firstRow * srcRowBytes, lastRow * srcRowBytes), mid);
  } else {
    for (let r = 0; r < rows; r++) bytes.set(src.data.subarray((firstRow + r) * srcRowBytes, (firstRow + r + 1) * srcRowBytes), mid + r * midRowBytes);
  }
  if (vAt) k.vpass(mid, midRowBytes, out, outHeight, vAt.starts, vAt.counts, vAt.coeffs, vAt.taps.ksize * 4, firstRow);

  // The first `channels` bytes of each pixel, packed.
  const pixelBytes = hTaps ? channels : stride;
  const result = new Uint8ClampedArray(outWidth * outHeight * channels);
  const resultRows = vTaps ? outHeight : rows;
  let o = 0;
  for (let y = 0; y < resultRows; y++) {
    let p = out + y * midRowBytes;
    if (channels === 3 && pixelBytes === 4) {
      for (let x = 0; x < outWidth; x++, p += 4, o += 3) {
        result[o] = bytes[p];
        result[o + 1] = bytes[p + 1];
        result[o + 2] = bytes[p + 2];
      }
    } else if (channels === pixelBytes) {
      result.set(bytes.subarray(p, p + outWidth * channels), o);
      o += outWidth * channels;
    } else {
      for (let x = 0; x < outWidth; x++, p += pixelBytes) for (let c = 0; c < channels; c++) result[o++] = bytes[p + c];
    }
  }
  return result;
}

/**
 * Resizes the first `channels` channels of `src` to outWidth × outHeight with a Pillow convolution
 * filter (1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING). Returns interleaved `channels`-channel data.
 * Same-size input is copied, as Pillow does.
 */
export function resizeConvolution(
  src: PixelBuffer,
  outWidth: number,
  outHeight: number,
  filterId: ConvolutionFilterId,
  channels: number = src.channels,
): Uint8ClampedArray {
  const filter = FILTERS[filterId];
  const needHorizontal = outWidth !== src.width;
  const needVertical = outHeight !== src.height;
  if (!needHorizontal && !needVertical) return copyChannels(src, channels);
  const vTaps = computeTaps(src.height, outHeight, filter);
  const hTaps = needHorizontal ? computeTaps(src.width, outWidth, filter) : null;

  // The kernels: where every output sample has a tap (their loops assume one; Pillow's windows always hold one) and
  // the horizontal pass has a kernel for the channel count.
  const fits = vTaps.count.every((n) => n > 0) && (!hTaps || (hTaps.count.every((n) => n > 0) && channels !== 2));
  const k = fits ? kernels(true) : null;
  if (k) {
    try {
      const out = resizeWasm(k, src, outWidth, outHeight, hTaps, needVertical ? vTaps : null, channels);
      if (out) return out;
    } finally {
      release(k);
    }
  }

  if (!hTaps) return verticalPassJS(src.data, src.width, src.channels, channels, outHeight, vTaps, 0);
  // Rows the vertical pass reads: from the first tap of the first output row to the end of the last.
  const firstRow = vTaps.start[0];
  const lastRow = vTaps.start[outHeight - 1] + vTaps.count[outHeight - 1];
  const rows = needVertical ? lastRow - firstRow : src.height;
  const row0 = needVertical ? firstRow : 0;
  const temp = horizontalPassJS(src, channels, row0, rows, outWidth, hTaps);
  if (!needVertical) return temp;
  return verticalPassJS(temp, outWidth, channels, channels, outHeight, vTaps, firstRow);
}

/** The first `channels` channels of `src`, as a new interleaved buffer. */
export function copyChannels(src: PixelBuffer, channels: number = src.channels): Uint8ClampedArray {
  const pixels = src.width * src.height;
  if (channels === src.channels) return new Uint8ClampedArray(src.data.subarray(0, pixels * channels));
  const out = new Uint8ClampedArray(pixels * channels);
  for (let i = 0, p = 0, o = 0; i < pixels; i++, p += src.channels) {
    for (let c = 0; c < channels; c++) out[o++] = src.data[p + c];
  }
  return out;
}

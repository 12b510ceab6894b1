import type { PixelBuffer } from './pixel_buffer.js';

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

/** Horizontal pass over source rows [row0, row0 + rows): output is outWidth × rows × channels. */
function horizontalPass(src: PixelBuffer, channels: number, row0: number, rows: number, outWidth: number, taps: Taps): Uint8ClampedArray {
  const { data, width, channels: stride } = src;
  const out = new Uint8ClampedArray(outWidth * rows * channels);
  const { ksize, start, count, coeffs } = taps;
  let o = 0;
  for (let y = 0; y < rows; y++) {
    const rowBase = (row0 + y) * width;
    for (let xx = 0; xx < outWidth; xx++) {
      const first = (rowBase + start[xx]) * stride;
      const n = count[xx];
      const kBase = xx * ksize;
      for (let c = 0; c < channels; c++) {
        let sum = HALF;
        for (let x = 0, p = first + c; x < n; x++, p += stride) sum += data[p] * coeffs[kBase + x];
        out[o++] = clip8(sum);
      }
    }
  }
  return out;
}

/** Vertical pass; `rowShift` is subtracted from each tap start (the horizontal pass dropped those rows). */
function verticalPass(
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
  let o = 0;
  for (let yy = 0; yy < outHeight; yy++) {
    const n = count[yy];
    const kBase = yy * ksize;
    const firstRow = (start[yy] - rowShift) * rowStep;
    for (let x = 0; x < width; x++) {
      const first = firstRow + x * stride;
      for (let c = 0; c < channels; c++) {
        let sum = HALF;
        for (let y = 0, p = first + c; y < n; y++, p += rowStep) sum += data[p] * coeffs[kBase + y];
        out[o++] = clip8(sum);
      }
    }
  }
  return out;
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
  const vTaps = computeTaps(src.height, outHeight, filter);

  if (!needHorizontal && !needVertical) return copyChannels(src, channels);
  if (!needHorizontal) return verticalPass(src.data, src.width, src.channels, channels, outHeight, vTaps, 0);

  // Rows the vertical pass reads: from the first tap of the first output row to the end of the last.
  const firstRow = vTaps.start[0];
  const lastRow = vTaps.start[outHeight - 1] + vTaps.count[outHeight - 1];
  const hTaps = computeTaps(src.width, outWidth, filter);
  const rows = needVertical ? lastRow - firstRow : src.height;
  const row0 = needVertical ? firstRow : 0;
  const temp = horizontalPass(src, channels, row0, rows, outWidth, hTaps);
  if (!needVertical) return temp;
  return verticalPass(temp, outWidth, channels, channels, outHeight, vTaps, firstRow);
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

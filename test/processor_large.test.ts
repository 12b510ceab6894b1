/**
 * Bit-exactness at photo sizes of the optimised resampling (WebAssembly SIMD kernels, and the JavaScript passes used
 * without them), the processor built on it and post-processing.
 *
 * The independent fact: the straightforward implementation these replaced, kept below verbatim as the reference
 * (`ref*`). It is the one the shared fixtures validated against Pillow / HF at small sizes (resample.test.ts,
 * processor.test.ts); its arithmetic is exact integers (no rounding order), so any correct re-implementation must
 * give the same bytes at any size. The optimised paths change only how the sums are evaluated (four lanes at a
 * time, row bands, repeated rows copied), which these tests pin on random 1200×900-class images with odd sizes,
 * upscaling and downscaling, RGB / RGBA / grey images and grey / RGBA / palette / RGB masks. No timing here: see
 * `npm run bench:preprocess`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tensor } from '@huggingface/transformers';
import { afterAll, describe, expect, it } from 'vitest';

import { InputError } from '../src/errors.js';
import { SegGPTImageProcessor } from '../src/index.node.js';
import { SegGPTPalette } from '../src/processors/seggpt_palette.js';
import { pillowResize, resampleKernel, useWasmResample, type PixelBuffer, type ResampleId } from '../src/utils/pillow_resize.js';
import { torchNearestIndices } from '../src/utils/torch_nearest.js';
import { TINY } from './support/fixtures.js';

// ---- the reference: the previous straightforward implementation (src/utils/pillow_resample.ts, pillow_nearest.ts) ----

const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);
const HAMMING_A = Math.fround(0.54);
const HAMMING_B = Math.fround(0.46);
const sinc = (x: number) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
const REF_FILTERS: Record<number, { support: number; weight(x: number): number }> = {
  4: { support: 0.5, weight: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  2: { support: 1, weight: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
  5: {
    support: 1,
    weight: (x) => {
      let ax = Math.abs(x);
      if (ax === 0) return 1;
      if (ax >= 1) return 0;
      ax = ax * Math.PI;
      return (Math.sin(ax) / ax) * (HAMMING_A + HAMMING_B * Math.cos(ax));
    },
  },
  3: {
    support: 2,
    weight: (x) => {
      const ax = Math.abs(x);
      if (ax < 1) return (1.5 * ax - 2.5) * ax * ax + 1;
      if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * -0.5;
      return 0;
    },
  },
  1: { support: 3, weight: (x) => (-3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

function refTaps(inSize: number, outSize: number, filter: { support: number; weight(x: number): number }) {
  const scale = inSize / outSize;
  const filterScale = scale < 1 ? 1 : scale;
  const support = filter.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const coeffs = new Int32Array(outSize * ksize);
  const raw = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let x = 0; x < hi - lo; x++) total += raw[x] = filter.weight((x + lo - center + 0.5) / filterScale);
    for (let x = 0; x < hi - lo; x++) {
      const k = total !== 0 ? raw[x] / total : raw[x];
      coeffs[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    start[xx] = lo;
    count[xx] = hi - lo;
  }
  return { ksize, start, count, coeffs };
}

const clip8 = (sum: number) => Math.min(255, Math.max(0, sum >> PRECISION_BITS));

/** One sum per output byte, channel by channel, tap by tap. */
function refConvolution(src: PixelBuffer, outWidth: number, outHeight: number, filterId: number, channels: number): Uint8ClampedArray {
  const filter = REF_FILTERS[filterId];
  const { width, height, channels: stride, data } = src;
  if (outWidth === width && outHeight === height) {
    const out = new Uint8ClampedArray(width * height * channels);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = data[i * stride + c];
    return out;
  }
  const v = refTaps(height, outHeight, filter);
  // Horizontal pass (when the width changes) over the rows the vertical pass reads.
  let mid: { data: Uint8Array | Uint8ClampedArray; width: number; stride: number; row0: number } = { data, width, stride, row0: 0 };
  if (outWidth !== width) {
    const h = refTaps(width, outWidth, filter);
    const row0 = outHeight !== height ? v.start[0] : 0;
    const rows = outHeight !== height ? v.start[outHeight - 1] + v.count[outHeight - 1] - row0 : height;
    const temp = new Uint8ClampedArray(outWidth * rows * channels);
    for (let y = 0; y < rows; y++)
      for (let xx = 0; xx < outWidth; xx++)
        for (let c = 0; c < channels; c++) {
          let sum = HALF;
          for (let x = 0; x < h.count[xx]; x++) sum += data[((row0 + y) * width + h.start[xx] + x) * stride + c] * h.coeffs[xx * h.ksize + x];
          temp[(y * outWidth + xx) * channels + c] = clip8(sum);
        }
    if (outHeight === height) return temp;
    mid = { data: temp, width: outWidth, stride: channels, row0 };
  }
  const out = new Uint8ClampedArray(outWidth * outHeight * channels);
  for (let yy = 0; yy < outHeight; yy++)
    for (let x = 0; x < outWidth; x++)
      for (let c = 0; c < channels; c++) {
        let sum = HALF;
        for (let y = 0; y < v.count[yy]; y++) sum += mid.data[((v.start[yy] - mid.row0 + y) * mid.width + x) * mid.stride + c] * v.coeffs[yy * v.ksize + y];
        out[(yy * outWidth + x) * channels + c] = clip8(sum);
      }
  return out;
}

/** Pillow's NEAREST source indices: the position accumulated in double. */
function refNearestIndices(inSize: number, outSize: number): number[] {
  const step = inSize / outSize;
  const out: number[] = [];
  for (let i = 0, pos = step * 0.5; i < outSize; i++, pos += step) out.push(Math.trunc(pos));
  return out;
}

function refResize(src: PixelBuffer, outWidth: number, outHeight: number, resample: number, channels: number): Uint8ClampedArray {
  if (resample !== 0) return refConvolution(src, outWidth, outHeight, resample, channels);
  const xs = refNearestIndices(src.width, outWidth);
  const ys = refNearestIndices(src.height, outHeight);
  const out = new Uint8ClampedArray(outWidth * outHeight * channels);
  for (let y = 0; y < outHeight; y++)
    for (let x = 0; x < outWidth; x++)
      for (let c = 0; c < channels; c++) out[(y * outWidth + x) * channels + c] = src.data[(ys[y] * src.width + xs[x]) * src.channels + c];
  return out;
}

// ---- inputs ----

function random(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>>= 0) & 0xff;
  };
}

function randomImage(width: number, height: number, channels: number, seed: number): PixelBuffer {
  const next = random(seed);
  const data = new Uint8ClampedArray(width * height * channels);
  // Noise over smooth gradients: both flat areas and every byte value, so overshoot clipping is exercised.
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++, i++) data[i] = (x * 7 + y * 3 + c * 60 + (next() >> 1)) & 0xff;
  return { data, width, height, channels };
}

/** A class map with rectangular regions of classes 0..top, repeated on `channels` channels (grey). */
function classMap(width: number, height: number, channels: number, top: number, scale = 1): PixelBuffer {
  const data = new Uint8ClampedArray(width * height * channels);
  for (let y = 0, i = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const v = (Math.floor(x / 97) + Math.floor(y / 61)) % (top + 1);
      for (let c = 0; c < channels; c++) data[i++] = c === 3 ? 255 : v * scale;
    }
  return { data, width, height, channels };
}

// ---- the reference preprocessing (HF SegGptImageProcessor, step by step) ----

const config = { ...JSON.parse(readFileSync(join(TINY, 'preprocessor_config.json'), 'utf8')), size: { height: 448, width: 448 } };
const processor = new SegGPTImageProcessor(config);
const MEAN = config.image_mean.map(Math.fround);
const STD = config.image_std.map(Math.fround);
/** `(u8 as float64 · rescale_factor) as float32`, then `(x − mean) / std` in float32. */
const normalize = (v: number, c: number) => Math.fround(Math.fround(Math.fround(v * config.rescale_factor) - MEAN[c]) / STD[c]);

/** An image as HF gives it to the model: convert("RGB"), BICUBIC resize, rescale + normalize, CHW. */
function refImage(image: PixelBuffer, height: number, width: number): Float32Array {
  const colour = image.channels >= 3 ? 3 : 1;
  const resized = refResize(image, width, height, config.resample, colour);
  const out = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++) for (let i = 0; i < height * width; i++) out[c * height * width + i] = normalize(resized[i * colour + (colour === 3 ? c : 0)], c);
  return out;
}

/** A prompt mask: class ids coloured (palette, or the value on R, G, B), or an RGB mask as it is; NEAREST resize. */
function refMask(mask: PixelBuffer, height: number, width: number, palette: SegGPTPalette | null, rgb: boolean): Float32Array {
  const resized = refResize(mask, width, height, 0, rgb ? 3 : 1);
  const out = new Float32Array(3 * height * width);
  for (let i = 0; i < height * width; i++) {
    const colour = rgb ? [resized[i * 3], resized[i * 3 + 1], resized[i * 3 + 2]] : palette ? palette.colour(resized[i]) : [resized[i], resized[i], resized[i]];
    for (let c = 0; c < 3; c++) out[c * height * width + i] = normalize(colour[c], c);
  }
  return out;
}

/** The previous post-processing: per output pixel, the torch-nearest source's value. */
function refPostProcess(pred: Tensor, outHeight: number, outWidth: number, palette: SegGPTPalette | null): { seg: Int32Array; labels: number[] } {
  const [, , fullHeight, width] = pred.dims;
  const data = pred.data as Float32Array;
  const top = Math.floor(fullHeight / 2);
  const height = fullHeight - top;
  const plane = fullHeight * width;
  const ys = torchNearestIndices(height, outHeight);
  const xs = torchNearestIndices(width, outWidth);
  const seg = new Int32Array(outHeight * outWidth);
  const seen = new Set<number>();
  const channel = (c: number, i: number) => {
    const v = Math.fround(Math.fround(Math.fround(data[c * plane + top * width + i] * STD[c]) + MEAN[c]) * 255);
    return v < 0 ? 0 : v > 255 ? 255 : v;
  };
  for (let y = 0; y < outHeight; y++)
    for (let x = 0; x < outWidth; x++) {
      const i = ys[y] * width + xs[x];
      const [r, g, b] = [channel(0, i), channel(1, i), channel(2, i)];
      const v = palette ? palette.nearest(r, g, b) : Math.trunc(Math.fround(Math.fround(Math.fround(r + g) + b) / 3));
      seg[y * outWidth + x] = v;
      seen.add(v);
    }
  return { seg, labels: [...seen].sort((a, b) => a - b) };
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `lengths ${a.length} vs ${b.length}`;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `index ${i}: ${a[i]} vs ${b[i]}`;
  return null;
}

// ---- tests ----

const BACKENDS = ['wasm-simd', 'javascript'] as const;
const withBackend = async <T>(backend: (typeof BACKENDS)[number], run: () => T | Promise<T>): Promise<T> => {
  useWasmResample(backend === 'wasm-simd');
  try {
    return await run();
  } finally {
    useWasmResample(true);
  }
};
afterAll(() => void useWasmResample(true));

it('runs the WebAssembly SIMD kernels in Node (so the cases below test both implementations)', () => {
  expect(useWasmResample(true)).toBe(true);
  expect(resampleKernel()).toBe('wasm-simd');
  expect(useWasmResample(false)).toBe(false);
  expect(resampleKernel()).toBe('javascript');
  useWasmResample(true);
});

describe.each(BACKENDS)('pillowResize on %s = the straightforward implementation', (backend) => {
  // [width, height, out width, out height, source channels, resized channels, filters]
  const cases: [number, number, number, number, number, number, ResampleId[]][] = [
    [1200, 900, 448, 448, 3, 3, [1, 2, 3, 4, 5]],
    [1201, 899, 448, 448, 4, 3, [3]],
    [1199, 901, 448, 448, 1, 1, [3, 1]],
    [1200, 900, 1203, 901, 3, 3, [3]],
    [301, 207, 448, 448, 4, 4, [1, 2, 3, 4, 5]],
    [1200, 900, 1200, 449, 4, 3, [3]],
    [1200, 900, 447, 900, 2, 2, [3]],
    [1200, 900, 1501, 333, 3, 3, [3]],
    [7, 5, 1201, 3, 4, 3, [3, 1]],
    [1, 1, 5, 3, 3, 3, [3]],
  ];
  it.each(cases)('%i×%i → %i×%i, %i channels (first %i resized)', async (w, h, ow, oh, channels, out, filters) => {
    const src = randomImage(w, h, channels, w * 31 + h + channels);
    for (const filter of filters) {
      const got = await withBackend(backend, () => pillowResize(src, ow, oh, filter, out));
      expect(firstDifference(got, refConvolution(src, ow, oh, filter, out)), `filter ${filter}`).toBeNull();
    }
  });

  it('NEAREST on grey, RGB and RGBA masks, up and down', async () => {
    for (const [w, h, ow, oh, channels] of [
      [1200, 900, 448, 448, 1],
      [1199, 901, 448, 448, 3],
      [301, 207, 1201, 899, 4],
    ]) {
      const src = randomImage(w, h, channels, w + h);
      const got = await withBackend(backend, () => pillowResize(src, ow, oh, 0, Math.min(3, channels)));
      expect(firstDifference(got, refResize(src, ow, oh, 0, Math.min(3, channels)))).toBeNull();
    }
  });
});

describe.each(BACKENDS)('SegGPTImageProcessor at photo sizes on %s = HF step by step', (backend) => {
  const check = async (
    query: PixelBuffer,
    prompt: PixelBuffer,
    mask: PixelBuffer,
    options: { num_labels?: number; do_convert_rgb?: boolean; size?: { height: number; width: number } } = {},
  ) => {
    const { height, width } = options.size ?? config.size;
    const out = await withBackend(backend, () => processor(query, { prompt_images: prompt, prompt_masks: mask, ...options }));
    const palette = options.num_labels ? new SegGPTPalette(options.num_labels) : null;
    const rgbMask = options.do_convert_rgb === false;
    expect(firstDifference(out.pixel_values.data as Float32Array, refImage(query, height, width)), 'pixel_values').toBeNull();
    expect(firstDifference(out.prompt_pixel_values.data as Float32Array, refImage(prompt, height, width)), 'prompt_pixel_values').toBeNull();
    expect(firstDifference(out.prompt_masks.data as Float32Array, refMask(mask, height, width, palette, rgbMask)), 'prompt_masks').toBeNull();
    expect(out.original_sizes).toEqual([[query.height, query.width]]);
  };

  it('RGB query, RGBA prompt, grey 0/255 mask (downscaling odd sizes)', async () => {
    await check(randomImage(1201, 899, 3, 1), randomImage(1199, 901, 4, 2), classMap(1200, 900, 1, 1, 255));
  });

  it('grey query, RGB prompt, an RGBA grey class map (as a browser decodes it) with num_labels: 3', async () => {
    await check(randomImage(1200, 900, 1, 3), randomImage(1200, 900, 3, 4), classMap(1201, 899, 4, 3), { num_labels: 3 });
  });

  it('an RGB colour mask with do_convert_rgb: false, upscaling to an odd size', async () => {
    await check(randomImage(1200, 900, 3, 5), randomImage(301, 207, 3, 6), randomImage(1200, 900, 3, 7), {
      do_convert_rgb: false,
      size: { height: 901, width: 1203 },
    });
  });
});

describe('post_process_semantic_segmentation at photo sizes = the per-pixel gather', () => {
  const [h, w] = [896, 448];
  const next = random(9);
  const data = new Float32Array(3 * h * w);
  // Smooth blobs with noise: runs of equal values and changes at every scale.
  for (let c = 0; c < 3; c++)
    for (let i = 0; i < h * w; i++) data[c * h * w + i] = Math.sin((i % w) / 37 + c) * Math.cos(Math.floor(i / w) / 23) * 2.2 + (next() - 128) / 400;
  const pred_masks = new Tensor('float32', data, [1, 3, h, w]);

  it.each([
    [900, 1200, null],
    [899, 1201, null],
    [448, 448, null],
    [301, 1201, null],
    [1203, 641, 3],
    [900, 1200, 3],
  ] as [number, number, number | null][])('to %i×%i, num_labels %s', (outHeight, outWidth, numLabels) => {
    const [result] = processor.post_process_semantic_segmentation({ pred_masks }, [[outHeight, outWidth]], numLabels);
    const ref = refPostProcess(pred_masks, outHeight, outWidth, numLabels ? new SegGPTPalette(numLabels) : null);
    expect(result.segmentation.dims).toEqual([outHeight, outWidth]);
    expect(firstDifference(result.segmentation.data as Int32Array, ref.seg)).toBeNull();
    expect(result.labels).toEqual(ref.labels);
    expect(result.labels.length).toBeGreaterThan(1);
  });
});

describe('class-map checks on large masks', () => {
  const query = randomImage(64, 48, 3, 11);
  const call = (mask: PixelBuffer, num_labels?: number) => processor(query, { prompt_images: query, prompt_masks: mask, num_labels });

  it('accept RGBA grey maps whether or not their bytes are 4-aligned, with the same result', async () => {
    const mask = classMap(1201, 899, 4, 3);
    const shifted = new Uint8ClampedArray(mask.data.length + 1);
    shifted.set(mask.data, 1);
    const unaligned = { ...mask, data: shifted.subarray(1) };
    const a = await call(mask, 3);
    const b = await call(unaligned, 3);
    expect(firstDifference(a.prompt_masks.data as Float32Array, b.prompt_masks.data as Float32Array)).toBeNull();
  });

  it('reject a colour pixel anywhere (the last one), aligned or not, and classes above num_labels', async () => {
    for (const channels of [3, 4]) {
      const mask = classMap(1200, 900, channels, 3);
      mask.data[mask.data.length - channels + 1] ^= 1; // G of the last pixel
      await expect(call(mask, 3)).rejects.toThrow(/colour \(RGB\) image but do_convert_rgb is true/);
      await expect(call(mask)).rejects.toThrow(InputError);
      const shifted = new Uint8ClampedArray(mask.data.length + 1);
      shifted.set(mask.data, 1);
      await expect(call({ ...mask, data: shifted.subarray(1) }, 3)).rejects.toThrow(/colour \(RGB\) image/);
    }
    const grey = classMap(1200, 900, 1, 3);
    grey.data[grey.data.length - 1] = 7;
    await expect(call(grey, 3)).rejects.toThrow(/holds class 7 but num_labels is 3/);
    // Without num_labels a 1-channel map is grey levels: any value is fine.
    await expect(call(grey)).resolves.toBeDefined();
  });
});

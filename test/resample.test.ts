import { join } from 'node:path';

import { RawImage } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';

import { pillowNearestIndices, pillowResize, Resample, type PixelBuffer, type ResampleId } from '../src/utils/pillow_resize.js';
import { torchNearestIndices } from '../src/utils/torch_nearest.js';
import { tinyCases } from './support/fixtures.js';
import { readNpy } from '../dev/npy.js';

const ALL_FILTERS: ResampleId[] = [0, 1, 2, 3, 4, 5];

function image(width: number, height: number, channels: number, fill: (x: number, y: number, c: number) => number): PixelBuffer {
  const data = new Uint8ClampedArray(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) for (let c = 0; c < channels; c++) data[(y * width + x) * channels + c] = fill(x, y, c);
  return { data, width, height, channels };
}

/**
 * The fixture arrays hold ((u8 · (1/255)) − mean) / std in float32; inverting that and rounding gives
 * back the exact uint8 Pillow produced (the map from u8 to float is injective with gaps ≫ float error).
 */
function fixtureBytes(path: string, mean: number[], std: number[]): { bytes: Uint8Array; shape: number[] } {
  const { data, shape } = readNpy(path);
  const [b, c, h, w] = shape;
  const bytes = new Uint8Array(b * h * w * 3);
  for (let n = 0; n < b; n++)
    for (let k = 0; k < c; k++)
      for (let i = 0; i < h * w; i++) {
        const v = (data[((n * c + k) * h * w) + i] as number) * std[k] + mean[k];
        bytes[(n * h * w + i) * 3 + k] = Math.round(v * 255);
      }
  return { bytes, shape };
}

/** PIL's convert("RGB") for the fixture inputs: L → (v, v, v), RGBA → alpha dropped. */
function pilRGB(img: RawImage): PixelBuffer {
  if (img.channels === 3) return img;
  return image(img.width, img.height, 3, (x, y, c) => img.data[(y * img.width + x) * img.channels + (img.channels === 1 ? 0 : c)]);
}

describe('Pillow resize, against the seggpt-tiny fixtures (uint8 level)', () => {
  const IMAGENET_MEAN = [0.485, 0.456, 0.406];
  const IMAGENET_STD = [0.229, 0.224, 0.225];
  for (const c of tinyCases()) {
    it(`${c.name}: BICUBIC images and NEAREST masks give Pillow's exact bytes`, async () => {
      const checks: [string, string, ResampleId][] = [
        ['images', 'pixel_values.npy', Resample.BICUBIC],
        ['prompt_images', 'prompt_pixel_values.npy', Resample.BICUBIC],
      ];
      // Without a palette a mask's RGB bytes are the PNG's own values (grey masks repeated on R, G, B).
      if (c.json.processor_call.effective.num_labels === null) checks.push(['prompt_masks', 'prompt_masks.npy', Resample.NEAREST]);
      for (const [field, npy, resample] of checks) {
        const { bytes, shape } = fixtureBytes(join(c.dir, npy), IMAGENET_MEAN, IMAGENET_STD);
        const [, , h, w] = shape;
        const items = c.json.inputs[field] as { file: string }[];
        for (let n = 0; n < items.length; n++) {
          const src = pilRGB(await RawImage.read(join(c.dir, items[n].file)));
          const out = pillowResize(src, w, h, resample, 3);
          const expected = bytes.subarray(n * h * w * 3, (n + 1) * h * w * 3);
          let maxDiff = 0;
          for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - expected[i]));
          expect(maxDiff, `${field}[${n}] grey levels off`).toBe(0);
        }
      }
    });
  }
});

describe('Pillow NEAREST', () => {
  it('accumulates the source position in double, unlike floor((i + 0.5)·in/out)', () => {
    // Pillow: Image.frombytes('L', (w, 1), bytes(range(w))).resize((out, 1), NEAREST). At these exact ties
    // (e.g. 3.5 · 2/7 = 1) the accumulated position lands just below the integer.
    expect([...pillowNearestIndices(2, 7)]).toEqual([0, 0, 0, 0, 1, 1, 1]);
    expect([...pillowNearestIndices(4, 6)]).toEqual([0, 1, 1, 2, 2, 3]);
    expect([...pillowNearestIndices(8, 6)]).toEqual([0, 2, 3, 4, 5, 7]);
    expect([...pillowNearestIndices(5, 3)]).toEqual([0, 2, 4]);
    // The naive formula disagrees at the first three:
    const naive = (n: number, out: number) => Array.from({ length: out }, (_, i) => Math.min(n - 1, Math.floor(((i + 0.5) * n) / out)));
    expect(naive(2, 7)[3]).toBe(1);
    expect(naive(4, 6)[4]).toBe(3);
    expect(naive(8, 6)[4]).toBe(6);
  });

  it('copies whole pixels of every channel', () => {
    const src = image(3, 2, 4, (x, y, c) => 10 * x + 100 * y + c);
    const out = pillowResize(src, 6, 4, Resample.NEAREST, 3);
    expect(out.length).toBe(6 * 4 * 3);
    expect([...out.subarray(0, 6)]).toEqual([0, 1, 2, 0, 1, 2]);
    expect([...out.subarray(6 * 3 * 3, 6 * 3 * 3 + 3)]).toEqual([100, 101, 102]);
  });
});

describe('Pillow convolution filters', () => {
  it('copy a same-size image unchanged (Pillow returns a copy)', () => {
    const src = image(7, 5, 3, (x, y, c) => (x * 37 + y * 11 + c * 90) % 256);
    for (const f of ALL_FILTERS) {
      const out = pillowResize(src, 7, 5, f);
      expect(out).not.toBe(src.data);
      expect([...out]).toEqual([...src.data]);
    }
  });

  it('keep a constant image constant for every filter and size', () => {
    for (const f of ALL_FILTERS) {
      for (const [w, h, ow, oh] of [
        [13, 7, 64, 64],
        [300, 200, 64, 64],
        [64, 64, 17, 91],
        [1, 1, 5, 3],
      ]) {
        const out = pillowResize(image(w, h, 1, () => 255), ow, oh, f);
        expect(out.every((v) => v === 255), `filter ${f} ${w}×${h}→${ow}×${oh}`).toBe(true);
        const mid = pillowResize(image(w, h, 1, () => 77), ow, oh, f);
        expect(mid.every((v) => v === 77), `filter ${f} ${w}×${h}→${ow}×${oh}`).toBe(true);
      }
    }
  });

  it('round after the horizontal pass (BOX 2×2 → 1×1 of [[0, 1], [0, 0]] is 1, Pillow gives 1; a one-pass mean rounds to 0)', () => {
    // Horizontal: row 0 → (2^21 + 1·2^21) >> 22 = floor((0 + 1 + 1) / 2) = 1, row 1 → 0; vertical: floor((1 + 0 + 1) / 2) = 1.
    const src = { data: Uint8Array.from([0, 1, 0, 0]), width: 2, height: 2, channels: 1 };
    expect([...pillowResize(src, 1, 1, Resample.BOX)]).toEqual([1]);
    expect([...pillowResize({ data: Uint8Array.from([0, 1, 0, 0]), width: 4, height: 1, channels: 1 }, 2, 1, Resample.BOX)]).toEqual([1, 0]);
  });

  it('clip bicubic overshoot to 0..255', () => {
    const step = image(8, 1, 1, (x) => (x < 4 ? 0 : 255));
    const out = pillowResize(step, 32, 1, Resample.BICUBIC);
    expect(Math.min(...out)).toBe(0);
    expect(Math.max(...out)).toBe(255);
    // Pure upscaling of a step overshoots before clipping, so both ends saturate at more than one pixel.
    expect(out.filter((v) => v === 0).length).toBeGreaterThan(1);
    expect(out.filter((v) => v === 255).length).toBeGreaterThan(1);
  });

  it('resamples channels independently (first channels of RGBA = RGB on its own)', () => {
    const rgba = image(23, 19, 4, (x, y, c) => (c === 3 ? (x * 11) % 256 : (x * 31 + y * 17 + c * 70) % 256));
    const rgb = image(23, 19, 3, (x, y, c) => rgba.data[(y * 23 + x) * 4 + c]);
    const grey = image(23, 19, 1, (x, y) => rgba.data[(y * 23 + x) * 4 + 1]);
    for (const f of ALL_FILTERS) {
      const a = pillowResize(rgba, 40, 9, f, 3);
      expect([...a]).toEqual([...pillowResize(rgb, 40, 9, f)]);
      const g = pillowResize(grey, 40, 9, f);
      expect([...g]).toEqual([...a].filter((_, i) => i % 3 === 1));
    }
  });

  it('rejects bad arguments', () => {
    const src = image(4, 4, 3, () => 0);
    expect(() => pillowResize(src, 0, 4, 3)).toThrow(/positive integers/);
    expect(() => pillowResize(src, 4, 4, 3, 4)).toThrow(/channels/);
    expect(() => pillowResize({ ...src, data: src.data.subarray(1) }, 4, 4, 3)).toThrow(/values/);
  });
});

describe('torch nearest (post-processing)', () => {
  it('is the identity for equal sizes and dst >> 1 for doubling', () => {
    expect([...torchNearestIndices(5, 5)]).toEqual([0, 1, 2, 3, 4]);
    expect([...torchNearestIndices(3, 6)]).toEqual([0, 0, 1, 1, 2, 2]);
  });

  it('floors float32(dst) · float32(in/out)', () => {
    // in/out = 0.6: floor(i · 0.6) for i = 0..4.
    expect([...torchNearestIndices(3, 5)]).toEqual([0, 0, 1, 1, 2]);
    // Shrinking 64 → 45: float32(64/45) = 1.4222222…, floor(i · s).
    const s = Math.fround(64 / 45);
    expect([...torchNearestIndices(64, 45)]).toEqual(Array.from({ length: 45 }, (_, i) => Math.floor(Math.fround(i * s))));
  });

  it('differs from the exact-rational formula where float32 rounding crosses an integer', () => {
    // Search a small range for a pair where float32 and exact arithmetic disagree; the kernel must follow float32.
    let found = false;
    for (let n = 2; n <= 128 && !found; n++)
      for (let out = 2; out <= 128 && !found; out++) {
        if (out === n || out === 2 * n) continue;
        const idx = torchNearestIndices(n, out);
        for (let i = 0; i < out; i++) {
          const exact = Math.min(n - 1, Math.floor((i * n) / out));
          if (idx[i] !== exact) {
            found = true;
            expect(idx[i]).toBe(Math.min(n - 1, Math.floor(Math.fround(Math.fround(i) * Math.fround(n / out)))));
            break;
          }
        }
      }
    expect(found).toBe(true);
  });
});

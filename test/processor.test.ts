import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

import { env, RawImage, Tensor } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';

import { InputError, SegGPTConfigError } from '../src/errors.js';
import { SegGPTImageProcessor, type SegGPTImageProcessorResult } from '../src/index.node.js';
import { get_palette, paletteBase } from '../src/processors/seggpt_palette.js';
import { pillowNearestIndices } from '../src/utils/pillow_nearest.js';
import { TINY, tinyCases, type TinyCase } from './support/fixtures.js';
import { absDiff, readNpy } from '../dev/npy.js';

const config = JSON.parse(readFileSync(join(TINY, 'preprocessor_config.json'), 'utf8'));
const processor = new SegGPTImageProcessor(config);

/**
 * Tolerances. Preprocessing is a pure-TypeScript port of Pillow, so the arrays must match bit for bit
 * (README: an independent PIL + numpy re-derivation is exact). Segmentations: exact expected; without
 * num_labels HF truncates a channel mean, so pixels within 1e-3 of an integer (case.json →
 * decision_margins) may flip by one — at most that many, and never more than 0.5 % of a map.
 */
const MAX_FLIP_SHARE = 0.005;

/** PIL's Image.convert("RGB"): L → (v, v, v); RGBA → alpha dropped (no compositing). */
function convertRGB(img: RawImage): RawImage {
  if (img.channels === 3) return img;
  const out = new Uint8ClampedArray(img.width * img.height * 3);
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = img.data[i * img.channels + (img.channels === 1 ? 0 : c)];
  }
  return new RawImage(out, img.width, img.height, 3);
}

interface CaseInputs {
  images: RawImage[];
  prompt_images: RawImage[];
  prompt_masks: RawImage[];
}

async function loadCase(c: TinyCase, applyConvert = true): Promise<CaseInputs> {
  const load = (items: { file: string; convert: string | null }[]) =>
    Promise.all(
      items.map(async (item) => {
        const img = await RawImage.read(join(c.dir, item.file));
        if (item.convert !== null && item.convert !== 'RGB') throw new Error(`unexpected convert ${item.convert}`);
        return applyConvert && item.convert === 'RGB' ? convertRGB(img) : img;
      }),
    );
  const { images, prompt_images, prompt_masks } = c.json.inputs;
  return { images: await load(images), prompt_images: await load(prompt_images), prompt_masks: await load(prompt_masks) };
}

function prompts({ prompt_images, prompt_masks }: CaseInputs): Pick<CaseInputs, 'prompt_images' | 'prompt_masks'> {
  return { prompt_images, prompt_masks };
}

function kwargs(c: TinyCase): Record<string, unknown> {
  const { return_tensors: _ignored, ...rest } = c.json.processor_call.kwargs;
  return rest;
}

async function runCase(c: TinyCase, inputs?: CaseInputs): Promise<SegGPTImageProcessorResult> {
  const { images, prompt_images, prompt_masks } = inputs ?? (await loadCase(c));
  const single = c.json.processor_call.images_arg === 'single PIL image';
  return processor(single ? images[0] : images, { prompt_images, prompt_masks, ...kwargs(c) });
}

const OUTPUTS = ['pixel_values', 'prompt_pixel_values', 'prompt_masks'] as const;

function expectSameArrays(a: SegGPTImageProcessorResult, b: SegGPTImageProcessorResult): void {
  for (const key of OUTPUTS) {
    expect(a[key].dims).toEqual(b[key].dims);
    expect(absDiff(a[key].data as Float32Array, b[key].data as Float32Array).max, key).toBe(0);
  }
}

describe.each(tinyCases())('seggpt-tiny $name', (c) => {
  it('preprocesses bit-exactly', async () => {
    const out = await runCase(c);
    for (const key of OUTPUTS) {
      const ref = readNpy(join(c.dir, `${key}.npy`));
      expect(out[key]).toBeInstanceOf(Tensor);
      expect(out[key].type).toBe('float32');
      expect(out[key].dims).toEqual(ref.shape);
      const { max } = absDiff(out[key].data as Float32Array, ref.data as Float32Array);
      // Hard limit: one grey level before normalisation (1 / (255 · 0.225) ≈ 0.0175); observed and required: 0.
      expect(max, `${key} max abs error`).toBeLessThanOrEqual(0.0175);
      expect(max, `${key} max abs error`).toBe(0);
    }
    expect(out.original_sizes).toEqual(c.json.inputs.images.map((i: { height: number; width: number }) => [i.height, i.width]));
  });

  it('post-processes pred_masks.npy like HF', () => {
    const pred = readNpy(join(c.dir, 'pred_masks.npy'));
    const { target_sizes, num_labels } = c.json.post_process_call;
    const results = processor.post_process_semantic_segmentation(
      { pred_masks: new Tensor('float32', pred.data as Float32Array, pred.shape) },
      target_sizes,
      num_labels,
    );
    expect(results).toHaveLength(pred.shape[0]);
    results.forEach(({ segmentation, labels }, i) => {
      const ref = readNpy(join(c.dir, `segmentation_${i}.npy`));
      expect(segmentation.type).toBe('int32');
      expect(segmentation.dims).toEqual(ref.shape);
      const got = segmentation.data as Int32Array;
      const want = Array.from(ref.data as BigInt64Array, Number);
      let flips = 0;
      for (let p = 0; p < want.length; p++) {
        const d = Math.abs(got[p] - want[p]);
        expect(d, `pixel ${p}`).toBeLessThanOrEqual(1);
        if (d) flips++;
      }
      const nearBoundary = num_labels === null ? c.json.decision_margins[i]['pixels_below_1e-3'] : 0;
      expect(flips).toBeLessThanOrEqual(Math.min(nearBoundary, Math.floor(MAX_FLIP_SHARE * want.length)));
      expect(flips, 'observed: exact').toBe(0);
      expect(labels).toEqual([...new Set(want)].sort((a, b) => a - b));
    });
  });
});

describe('input handling', () => {
  const byName = (prefix: string) => tinyCases().find((c) => c.name.startsWith(prefix))!;

  it('preprocess() is the same as calling the processor', async () => {
    const c = byName('05');
    const inputs = await loadCase(c);
    expectSameArrays(await processor.preprocess(inputs.images, prompts(inputs)), await runCase(c, inputs));
  });

  it('converts L and RGBA query images itself (case 07 unconverted = PIL-converted)', async () => {
    const c = byName('07');
    const raw = await loadCase(c, false);
    expect(raw.images.map((i) => i.channels)).toEqual([1, 4]);
    expectSameArrays(await runCase(c, raw), await runCase(c));
  });

  it('reads file paths, and leaves RawImage inputs untouched', async () => {
    const c = byName('07');
    const raw = await loadCase(c, false);
    const before = raw.images.map((i) => [i.channels, i.data.slice()] as const);
    const paths = (items: { file: string }[]) => items.map((i) => join(c.dir, i.file));
    const fromPaths = await processor(paths(c.json.inputs.images), {
      prompt_images: paths(c.json.inputs.prompt_images),
      prompt_masks: paths(c.json.inputs.prompt_masks),
    });
    expectSameArrays(fromPaths, await runCase(c, raw));
    raw.images.forEach((img, i) => {
      expect(img.channels).toBe(before[i][0]);
      expect(img.data).toEqual(before[i][1]);
    });
  });

  it('accepts grey multi-channel masks as class maps (how a browser canvas decodes a grey PNG)', async () => {
    const c = byName('02');
    const inputs = await loadCase(c);
    const mask = inputs.prompt_masks[0];
    const rgba = new Uint8ClampedArray(mask.width * mask.height * 4);
    for (let i = 0; i < mask.width * mask.height; i++) rgba.set([mask.data[i], mask.data[i], mask.data[i], 255], i * 4);
    const out = await processor(inputs.images, { ...prompts(inputs), prompt_masks: new RawImage(rgba, mask.width, mask.height, 4), num_labels: 3 });
    expectSameArrays(out, await runCase(c, inputs));
  });

  it('uses the 64×64 prompt of case 03 without resampling (identity path)', async () => {
    const c = byName('03');
    const inputs = await loadCase(c);
    const [prompt] = inputs.prompt_images;
    expect([prompt.width, prompt.height]).toEqual([64, 64]);
    const out = await runCase(c, inputs);
    // HF: (u8 · (1/255) in float64 → float32 − mean) / std, float32; no resize touches the pixels.
    const expected = new Float32Array(3 * 64 * 64);
    for (let ch = 0; ch < 3; ch++)
      for (let i = 0; i < 64 * 64; i++) {
        const x = Math.fround(prompt.data[i * 3 + ch] * (1 / 255));
        expected[ch * 4096 + i] = Math.fround(Math.fround(x - Math.fround(config.image_mean[ch])) / Math.fround(config.image_std[ch]));
      }
    expect(absDiff(out.prompt_pixel_values.data as Float32Array, expected).max).toBe(0);
    expect(absDiff(expected, readNpy(join(c.dir, 'prompt_pixel_values.npy')).data as Float32Array).max).toBe(0);
  });

  it('repeats a single image for every prompt (case 04 passes the same image twice)', async () => {
    const c = byName('04');
    const inputs = await loadCase(c);
    const out = await processor(inputs.images[0], { prompt_images: inputs.prompt_images, prompt_masks: inputs.prompt_masks });
    expectSameArrays(out, await runCase(c, inputs));
    expect(out.original_sizes).toEqual([
      [45, 71],
      [45, 71],
    ]);
  });

  it('repeats a single prompt for every image', async () => {
    const c = byName('05');
    const inputs = await loadCase(c);
    const one = { prompt_images: inputs.prompt_images[0], prompt_masks: inputs.prompt_masks[0] };
    const broadcast = await processor(inputs.images, one);
    const explicit = await processor(inputs.images, {
      prompt_images: [one.prompt_images, one.prompt_images],
      prompt_masks: [one.prompt_masks, one.prompt_masks],
    });
    expectSameArrays(broadcast, explicit);
    expect(broadcast.pixel_values.dims).toEqual([2, 3, 64, 64]);
  });

  it('loads with from_pretrained from a local checkpoint folder', async () => {
    const saved = { localModelPath: env.localModelPath, allowRemoteModels: env.allowRemoteModels };
    try {
      env.localModelPath = `${dirname(TINY)}/`;
      env.allowRemoteModels = false;
      const loaded = await SegGPTImageProcessor.from_pretrained(basename(TINY));
      expect(loaded).toBeInstanceOf(SegGPTImageProcessor);
      expect(loaded.config.size).toEqual(config.size);
      const c = byName('03');
      const inputs = await loadCase(c);
      expectSameArrays(await loaded(inputs.images, prompts(inputs)), await runCase(c, inputs));
    } finally {
      Object.assign(env, saved);
    }
  });

  it('honours per-call size, null overrides and the config defaults', async () => {
    const c = byName('01');
    const inputs = await loadCase(c);
    const out = await processor(inputs.images, { ...prompts(inputs), size: { height: 32, width: 48 } });
    expect(out.pixel_values.dims).toEqual([1, 3, 32, 48]);
    // null means "use the config value", as None does in HF.
    expectSameArrays(await processor(inputs.images, { ...prompts(inputs), do_convert_rgb: null as never, num_labels: null }), await runCase(c, inputs));
    expect(new SegGPTImageProcessor({}).config.size).toEqual({ height: 448, width: 448 });
  });
});

describe('pre_process_semantic_segmentation', () => {
  const c02 = tinyCases().find((c) => c.name.startsWith('02'))!;

  it('colours a class map so that do_convert_rgb: false reproduces the num_labels path (case 02)', async () => {
    const inputs = await loadCase(c02);
    const rgbMask = processor.pre_process_semantic_segmentation(inputs.prompt_masks[0], 3);
    expect(rgbMask.channels).toBe(3);
    const out = await processor(inputs.images, { ...prompts(inputs), prompt_masks: [rgbMask], do_convert_rgb: false });
    const ref = readNpy(join(c02.dir, 'prompt_masks.npy'));
    expect(absDiff(out.prompt_masks.data as Float32Array, ref.data as Float32Array).max).toBe(0);
  });

  it('accepts int64 Tensors and { data, width, height }, one or many', async () => {
    const [mask] = (await loadCase(c02)).prompt_masks;
    const fromImage = processor.pre_process_semantic_segmentation([mask], 3);
    const tensor = new Tensor('int64', BigInt64Array.from(mask.data, (v) => BigInt(v)), [mask.height, mask.width]);
    const plain = { data: Int32Array.from(mask.data), width: mask.width, height: mask.height };
    const [a, b] = processor.pre_process_semantic_segmentation([tensor, plain], 3);
    expect(fromImage).toHaveLength(1);
    expect(a.data).toEqual(fromImage[0].data);
    expect(b.data).toEqual(fromImage[0].data);
  });

  it('is inverted by post_process_semantic_segmentation with num_labels', async () => {
    const [mask] = (await loadCase(c02)).prompt_masks;
    const out = await processor(mask, {
      prompt_images: mask,
      prompt_masks: processor.pre_process_semantic_segmentation(mask, 3),
      do_convert_rgb: false,
    });
    // A "prediction" whose answer half is the normalised palette mask decodes to the resized class map.
    const half = out.prompt_masks.data as Float32Array;
    const pred = new Float32Array(3 * 128 * 64);
    for (let ch = 0; ch < 3; ch++) pred.set(half.subarray(ch * 4096, (ch + 1) * 4096), ch * 8192 + 4096);
    const [{ segmentation, labels }] = processor.post_process_semantic_segmentation(
      { pred_masks: new Tensor('float32', pred, [1, 3, 128, 64]) },
      null,
      3,
    );
    const xs = pillowNearestIndices(mask.width, 64);
    const ys = pillowNearestIndices(mask.height, 64);
    const expected = Int32Array.from({ length: 4096 }, (_, i) => mask.data[ys[Math.floor(i / 64)] * mask.width + xs[i % 64]]);
    expect(segmentation.dims).toEqual([64, 64]);
    expect(segmentation.data).toEqual(expected);
    expect(labels).toEqual([0, 1, 2, 3]);
  });
});

describe('palette', () => {
  it("matches case 02's documented build_palette(3)", () => {
    const text: string = tinyCases().find((c) => c.name.startsWith('02'))!.json.description;
    const listed = /build_palette\(3\) = (\[[^\]]*\])/.exec(text)![1];
    const colours = JSON.parse(listed.replace(/\(/g, '[').replace(/\)/g, ']'));
    expect(get_palette(3)).toEqual(colours);
    expect(processor.get_palette(3)).toEqual(colours);
  });

  it('uses base 4 for 64 labels (Python: 64 ** (1/3) == 3.9999999999999996)', () => {
    expect(paletteBase(64)).toBe(4);
    const p = get_palette(64);
    expect(p).toHaveLength(65);
    expect(p[0]).toEqual([0, 0, 0]);
    expect(p[1]).toEqual([255, 255, 255]);
    expect(p[2]).toEqual([255, 255, 191]); // margin 256 // 4 = 64
    expect(p[64]).toEqual([63, 63, 63]);
  });

  it('handles perfect cubes like CPython on glibc', () => {
    // 1, 8, 27 ** (1/3) are exactly 1.0, 2.0, 3.0; from 64 on k³ ** (1/3) is the double just below k.
    expect([1, 8, 27, 64, 125, 216, 343, 512, 1000].map(paletteBase)).toEqual([2, 3, 4, 4, 5, 6, 7, 8, 10]);
    expect([7, 9, 26, 28, 63, 65, 124, 126].map(paletteBase)).toEqual([2, 3, 3, 4, 4, 5, 5, 6]);
  });

  it('equals int(round-to-nearest-double(n ** (1/3 as double))) + 1 for n = 1..100000 (BigInt evaluation)', () => {
    // Independent evaluation: the double 1/3 is t = 1/3 − 2^-54/3, so n^t = ∛n · exp(−ln n / (3·2^54)).
    // ∛n is taken exactly (BigInt integer cube root with P fractional bits), the tiny exponential to
    // first order (the dropped term is < 2^-99), then the value is rounded to the nearest double as glibc's
    // pow does, and truncated like Python's int().
    const P = 100n;
    const icbrt = (N: bigint): bigint => {
      // Newton from a float guess; one step puts x at or above the root (AM–GM), later steps decrease.
      let x = BigInt(Math.floor(Math.cbrt(Number(N))));
      x = (2n * x + N / (x * x)) / 3n + 1n;
      for (;;) {
        const y = (2n * x + N / (x * x)) / 3n;
        if (y >= x) break;
        x = y;
      }
      while (x * x * x > N) x--;
      while ((x + 1n) * (x + 1n) * (x + 1n) <= N) x++;
      return x;
    };
    const mismatches: number[] = [];
    let closestToMidpoint = Infinity;
    for (let n = 1; n <= 100000; n++) {
      const root = icbrt(BigInt(n) << (3n * P));
      const e54 = BigInt(Math.round((Math.log(n) / 3) * 2 ** 52)); // ln(n)/3 · 2^52; shift = root · e54 · 2^-106
      const value = root - ((root * e54) >> 106n);
      const intPart = value >> P;
      const e = BigInt(intPart.toString(2).length - 1);
      const ulp = 1n << (P + e - 52n);
      const rem = value % ulp;
      const rounded = rem * 2n >= ulp ? value - rem + ulp : value - rem;
      const floorOfPow = Number(rounded >> P);
      // Only values within two ulps of an integer can change int(); make sure none sits at a rounding midpoint.
      const distToInt = value - (((value + (1n << (P - 1n))) >> P) << P);
      if (distToInt < 2n * ulp && distToInt > -2n * ulp) {
        closestToMidpoint = Math.min(closestToMidpoint, Math.abs(Number(rem * 2n - ulp) / Number(ulp)));
      }
      if (paletteBase(n) !== floorOfPow + 1) mismatches.push(n);
    }
    expect(mismatches).toEqual([]);
    expect(closestToMidpoint).toBeGreaterThan(1e-6); // in ulps: every decision is far from a tie
  });
});

describe('errors', () => {
  const c02 = tinyCases().find((c) => c.name.startsWith('02'))!;
  const c06 = tinyCases().find((c) => c.name.startsWith('06'))!;
  const reject = (p: Promise<unknown>, pattern: RegExp) => expect(p).rejects.toSatisfy((e: unknown) => e instanceof InputError && pattern.test(e.message));

  it('names missing prompts and count mismatches', async () => {
    const { images, prompt_images, prompt_masks } = await loadCase(c02);
    await reject(processor(images, undefined as never), /prompt_images, prompt_masks/);
    await reject(processor(images, { prompt_masks } as never), /prompt_images is missing/);
    await reject(processor(images, { prompt_images } as never), /prompt_masks is missing/);
    await reject(processor([], { prompt_images, prompt_masks }), /images is an empty list/);
    await reject(processor(images, { prompt_images: [prompt_images[0], prompt_images[0]], prompt_masks }), /2 prompt_images but 1 prompt_masks/);
    const two = { prompt_images: [prompt_images[0], prompt_images[0]], prompt_masks: [prompt_masks[0], prompt_masks[0]] };
    await reject(processor([images[0], images[0], images[0]], two), /3 images but 2 prompts/);
  });

  it('rejects masks that are not images, with the way to convert label maps', async () => {
    const { images, prompt_images } = await loadCase(c02);
    const tensorMask = new Tensor('int64', new BigInt64Array(4), [2, 2]);
    await reject(processor(images, { prompt_images, prompt_masks: [tensorMask as never] }), /prompt_masks\[0\] is not an image.*pre_process_semantic_segmentation/);
    await reject(processor(images, { prompt_images, prompt_masks: [42 as never] }), /prompt_masks\[0\] is not an image/);
    await reject(processor(images, { prompt_images, prompt_masks: [join(c02.dir, 'missing.png')] }), /could not read prompt_masks\[0\]/);
  });

  it('checks masks against num_labels and do_convert_rgb', async () => {
    const inputs = await loadCase(c02);
    await reject(processor(inputs.images, { ...prompts(inputs), num_labels: 2 }), /holds class 3 but num_labels is 2; pass num_labels: 3/);
    const rgb = await loadCase(c06);
    await reject(processor(rgb.images, { ...prompts(rgb) }), /colour \(RGB\) image but do_convert_rgb is true; pass do_convert_rgb: false/);
    await reject(processor(rgb.images, { ...prompts(rgb), num_labels: 3 }), /do_convert_rgb: false/);
    await reject(processor(inputs.images, { ...prompts(inputs), do_convert_rgb: false }), /1 channel\(s\) but do_convert_rgb is false/);
  });

  it('rejects unknown and malformed options', async () => {
    const inputs = await loadCase(c02);
    await reject(processor(inputs.images, { ...prompts(inputs), return_tensors: 'pt' } as never), /unknown option "return_tensors"; remove it/);
    await reject(processor(inputs.images, { ...prompts(inputs), num_labels: 0 }), /num_labels must be an integer/);
    await reject(processor(inputs.images, { ...prompts(inputs), num_labels: 2.5 }), /num_labels must be an integer/);
    await reject(processor(inputs.images, { ...prompts(inputs), size: { height: 0, width: 4 } }), /size must be/);
    await reject(processor(inputs.images, { ...prompts(inputs), resample: 9 as never }), /resample must be/);
    await reject(processor(inputs.images, { ...prompts(inputs), do_resize: false }), /same size/);
  });

  it('validates post-processing and label-map arguments', () => {
    const pred = new Tensor('float32', new Float32Array(2 * 3 * 8 * 4), [2, 3, 8, 4]);
    expect(() => processor.post_process_semantic_segmentation({ pred_masks: pred }, [[4, 4]])).toThrow(InputError);
    expect(() => processor.post_process_semantic_segmentation({ pred_masks: pred }, [[4, 4], [0, 4]])).toThrow(/positive integers/);
    expect(() => processor.post_process_semantic_segmentation({ pred_masks: new Tensor('float32', new Float32Array(8), [1, 2, 2, 2]) })).toThrow(
      /expected \[batch, 3, 2·height, width\]/,
    );
    expect(() => processor.post_process_semantic_segmentation({} as never)).toThrow(/pred_masks is missing/);
    const map = { data: Uint8Array.from([0, 1, 2, 5]), width: 2, height: 2 };
    expect(() => processor.pre_process_semantic_segmentation(map, 3)).toThrow(/holds 5 at pixel 3/);
    expect(() => processor.pre_process_semantic_segmentation(map, undefined as never)).toThrow(/num_labels is required/);
    expect(() => processor.get_palette(-1)).toThrow(InputError);
  });

  it('rejects a bad preprocessor config with SegGPTConfigError', () => {
    expect(() => new SegGPTImageProcessor({ ...config, image_mean: [0.5, 0.5] })).toThrow(SegGPTConfigError);
  });
});

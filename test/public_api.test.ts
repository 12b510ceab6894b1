/**
 * Every seggpt-tiny case replayed through the public API exactly as a user writes it:
 * `seggpt convert` → PNGs → AutoProcessor → AutoModel → post_process_semantic_segmentation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModel, AutoProcessor, RawImage, Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SegGPTForImageSegmentation, SegGPTProcessor } from '../src/index.js';
import { main } from '../cli/main.js';
import { absDiff, readNpy } from '../dev/npy.js';
import { TINY, tinyCases, type TinyCase } from './support/fixtures.js';

/** One grey level before normalisation, the bound the processor must hold (it is bit-exact in practice). */
const ONE_GREY_LEVEL = 1 / (255 * 0.224);
/** The reference's fp32 vs fp64 spread on pred_masks is ~1e-5; 1e-4 is the agreed bound. */
const PRED_MASKS_TOLERANCE = 1e-4;
/** Channel means within 1e-3 of an integer may flip by one (case.json decision_margins); at most 0.5 % of pixels. */
const MAX_OFF_BY_ONE_FRACTION = 0.005;

let work: string;
let converted: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-public-'));
  converted = join(work, 'seggpt-tiny-onnx');
  expect(await main(['convert', TINY, '--output', converted])).toBe(0);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Opens a case's PNGs like PIL: `convert: 'RGB'` turns L into grey RGB and drops RGBA's alpha. */
async function load(c: TinyCase, item: { file: string; convert: string | null }): Promise<RawImage> {
  const image = await RawImage.read(join(c.dir, item.file));
  return item.convert === 'RGB' ? image.rgb() : image;
}

describe.each(tinyCases().map((c) => [c.name, c] as const))('%s', (_name, c) => {
  const call = c.json;
  let inputs: Record<string, Tensor>;
  let outputs: Record<string, Tensor>;
  let processor: SegGPTProcessor;

  beforeAll(async () => {
    processor = (await AutoProcessor.from_pretrained(converted)) as unknown as SegGPTProcessor;
    const model = await AutoModel.from_pretrained(converted);
    expect(model).toBeInstanceOf(SegGPTForImageSegmentation);
    const images = await Promise.all(call.inputs.images.map((i: any) => load(c, i)));
    const prompt_images = await Promise.all(call.inputs.prompt_images.map((i: any) => load(c, i)));
    const prompt_masks = await Promise.all(call.inputs.prompt_masks.map((i: any) => load(c, i)));
    const { return_tensors: _pt, ...kwargs } = call.processor_call.kwargs;
    const single = call.processor_call.images_arg === 'single PIL image';
    inputs = (await processor(single ? images[0] : images, {
      prompt_images: single ? prompt_images[0] : prompt_images,
      prompt_masks: single ? prompt_masks[0] : prompt_masks,
      ...kwargs,
    })) as unknown as Record<string, Tensor>;
    outputs = await (model as unknown as (i: unknown, o: unknown) => Promise<Record<string, Tensor>>)(inputs, call.model_call.kwargs);
    await model.dispose();
  });

  test('the processor reproduces the reference arrays', () => {
    for (const name of ['pixel_values', 'prompt_pixel_values', 'prompt_masks']) {
      const expected = readNpy(join(c.dir, `${name}.npy`));
      expect(inputs[name].dims).toEqual(expected.shape);
      expect(absDiff(inputs[name].data as Float32Array, expected.data as Float32Array).max).toBeLessThanOrEqual(ONE_GREY_LEVEL);
    }
  });

  test('pred_masks match the reference', () => {
    const expected = readNpy(join(c.dir, 'pred_masks.npy'));
    // Exact processor arrays make this the model's own error; otherwise one grey level propagates.
    const diff = absDiff(outputs.pred_masks.data as Float32Array, expected.data as Float32Array);
    expect(diff.max).toBeLessThan(PRED_MASKS_TOLERANCE);
  });

  test('post_process_semantic_segmentation gives the reference maps', () => {
    const { target_sizes, num_labels } = call.post_process_call;
    const results = processor.post_process_semantic_segmentation(outputs as never, target_sizes, num_labels ?? undefined);
    expect(results).toHaveLength(target_sizes.length);
    results.forEach((result, i) => {
      const expected = readNpy(join(c.dir, `segmentation_${i}.npy`));
      expect(result.segmentation.dims).toEqual(expected.shape);
      const got = result.segmentation.data as Int32Array;
      const want = expected.data as BigInt64Array;
      let offByOne = 0;
      for (let p = 0; p < got.length; p++) {
        const d = Math.abs(got[p] - Number(want[p]));
        expect(d).toBeLessThanOrEqual(num_labels ? 0 : 1);
        if (d) offByOne++;
      }
      expect(offByOne / got.length).toBeLessThanOrEqual(MAX_OFF_BY_ONE_FRACTION);
      expect(offByOne).toBeLessThanOrEqual(call.decision_margins?.[i]?.['pixels_below_1e-3'] ?? 0);
      expect(result.labels).toEqual([...new Set(Array.from(want, Number))].sort((a, b) => a - b));
    });
  });
});

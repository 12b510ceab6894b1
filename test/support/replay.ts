/**
 * Replays a seggpt-tiny fixture case through the public API exactly as a user writes it (PNGs → processor → model →
 * post_process_semantic_segmentation) and checks every stage against the reference arrays.
 */
import { join } from 'node:path';
import { RawImage, type Tensor } from '@huggingface/transformers';
import { expect } from 'vitest';
import type { SegGPTProcessor } from '../../src/index.node.js';
import { absDiff, readNpy } from '../../dev/npy.js';
import type { TinyCase } from './fixtures.js';

/** One grey level before normalisation, the bound the processor must hold (it is bit-exact in practice). */
export const ONE_GREY_LEVEL = 1 / (255 * 0.224);
/** The reference's fp32 vs fp64 spread on pred_masks is ~1e-5; 1e-4 is the agreed bound. */
export const PRED_MASKS_TOLERANCE = 1e-4;
/** Channel means within 1e-3 of an integer may flip by one (case.json decision_margins); at most 0.5 % of pixels. */
const MAX_OFF_BY_ONE_FRACTION = 0.005;

/** Opens a case's PNGs like PIL: `convert: 'RGB'` turns L into grey RGB and drops RGBA's alpha. */
async function load(c: TinyCase, item: { file: string; convert: string | null }): Promise<RawImage> {
  const image = await RawImage.read(join(c.dir, item.file));
  return item.convert === 'RGB' ? image.rgb() : image;
}

export interface Replayed {
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
}

/** Calls the processor and the model as the case's reference call did. */
export async function replayCase(c: TinyCase, processor: SegGPTProcessor, model: unknown): Promise<Replayed> {
  const call = c.json;
  const images = await Promise.all(call.inputs.images.map((i: any) => load(c, i)));
  const prompt_images = await Promise.all(call.inputs.prompt_images.map((i: any) => load(c, i)));
  const prompt_masks = await Promise.all(call.inputs.prompt_masks.map((i: any) => load(c, i)));
  const { return_tensors: _pt, ...kwargs } = call.processor_call.kwargs;
  const single = call.processor_call.images_arg === 'single PIL image';
  const inputs = (await processor(single ? images[0] : images, {
    prompt_images: single ? prompt_images[0] : prompt_images,
    prompt_masks: single ? prompt_masks[0] : prompt_masks,
    ...kwargs,
  })) as unknown as Record<string, Tensor>;
  const outputs = await (model as (i: unknown, o: unknown) => Promise<Record<string, Tensor>>)(inputs, call.model_call.kwargs);
  return { inputs, outputs };
}

export function expectReferenceInputs(c: TinyCase, inputs: Record<string, Tensor>): void {
  for (const name of ['pixel_values', 'prompt_pixel_values', 'prompt_masks']) {
    const expected = readNpy(join(c.dir, `${name}.npy`));
    expect(inputs[name].dims).toEqual(expected.shape);
    expect(absDiff(inputs[name].data as Float32Array, expected.data as Float32Array).max).toBeLessThanOrEqual(ONE_GREY_LEVEL);
  }
}

export function expectReferencePredMasks(c: TinyCase, outputs: Record<string, Tensor>, tolerance = PRED_MASKS_TOLERANCE): void {
  const expected = readNpy(join(c.dir, 'pred_masks.npy'));
  expect(absDiff(outputs.pred_masks.data as Float32Array, expected.data as Float32Array).max).toBeLessThan(tolerance);
}

/** post_process_semantic_segmentation equals the reference maps (channel means may flip by one near a boundary). */
export function expectReferenceMaps(c: TinyCase, processor: SegGPTProcessor, outputs: Record<string, Tensor>): void {
  const { target_sizes, num_labels } = c.json.post_process_call;
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
    expect(offByOne).toBeLessThanOrEqual(c.json.decision_margins?.[i]?.['pixels_below_1e-3'] ?? 0);
    expect(result.labels).toEqual([...new Set(Array.from(want, Number))].sort((a, b) => a - b));
  });
}

import { Tensor } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import { torchNearestIndices } from '../utils/torch_nearest.js';
import type { SegGPTPalette } from './seggpt_palette.js';

/** One item of `post_process_semantic_segmentation`'s result (Transformers.js shape). */
export interface SegGPTSemanticSegmentation {
  /**
   * int32 [H, W]. Without num_labels: HF's `int(mean of the 3 channels)`, a grey level 0–255 (not a class id).
   * With num_labels: the class id (0 = background) of the nearest palette colour (HF returns int64 there).
   */
  segmentation: Tensor;
  /** The distinct values present in `segmentation`, ascending. */
  labels: number[];
}

/** Height, width. */
export type TargetSize = [height: number, width: number];

function checkPredMasks(pred: unknown): { data: Float32Array; dims: [number, number, number, number] } {
  const t = pred as Tensor | undefined;
  if (!t || !Array.isArray(t.dims) || t.data === undefined) {
    throw new InputError(
      'SegGPTImageProcessor.post_process_semantic_segmentation: outputs.pred_masks is missing; pass the model output object ({ pred_masks })',
    );
  }
  const dims = t.dims;
  if (dims.length !== 4 || dims[1] !== 3 || dims[2] < 2 || dims[3] < 1) {
    throw new InputError(
      `SegGPTImageProcessor.post_process_semantic_segmentation: pred_masks has shape [${dims.join(', ')}]; expected [batch, 3, 2·height, width]`,
    );
  }
  const data = t.data instanceof Float32Array ? t.data : (t.to('float32').data as Float32Array);
  return { data, dims: dims as [number, number, number, number] };
}

function checkTargetSizes(target_sizes: unknown, batch: number): TargetSize[] | null {
  if (target_sizes === undefined || target_sizes === null) return null;
  const where = 'SegGPTImageProcessor.post_process_semantic_segmentation: target_sizes';
  if (!Array.isArray(target_sizes) || target_sizes.length !== batch) {
    throw new InputError(`${where} must list one [height, width] per batch item (${batch}); pass e.g. inputs.original_sizes`);
  }
  const dim = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1;
  target_sizes.forEach((size, i) => {
    if (!Array.isArray(size) || size.length !== 2 || !dim(size[0]) || !dim(size[1])) {
      throw new InputError(`${where}[${i}] must be [height, width] with positive integers (got ${JSON.stringify(size)})`);
    }
  });
  return target_sizes as TargetSize[];
}

/**
 * HF `SegGptImageProcessor.post_process_semantic_segmentation`, float32 step for step:
 * lower half of pred_masks → `x·std + mean` → `·255` → clip [0, 255] → torch nearest resize to the
 * target size → channel mean truncated to int, or (num_labels) argmin of the squared distance to the
 * palette colours, first index on ties. The per-pixel map is computed once on the model grid and then
 * gathered, which equals resizing first because nearest resizing only copies pixels.
 */
export function postProcessSemanticSegmentation(
  pred_masks: unknown,
  image_mean: readonly number[],
  image_std: readonly number[],
  target_sizes: unknown,
  palette: SegGPTPalette | null,
): SegGPTSemanticSegmentation[] {
  const { data, dims } = checkPredMasks(pred_masks);
  const [batch, , fullHeight, width] = dims;
  const sizes = checkTargetSizes(target_sizes, batch);
  const top = Math.floor(fullHeight / 2);
  const height = fullHeight - top;
  const plane = fullHeight * width;
  const grid = height * width;
  const mean = image_mean.map(Math.fround);
  const std = image_std.map(Math.fround);
  const numValues = palette ? palette.num_labels + 1 : 256;

  const results: SegGPTSemanticSegmentation[] = [];
  const values = new Int32Array(grid);
  for (let b = 0; b < batch; b++) {
    const base = b * 3 * plane + top * width;
    for (let i = 0; i < grid; i++) {
      let r = Math.fround(Math.fround(Math.fround(data[base + i] * std[0]) + mean[0]) * 255);
      let g = Math.fround(Math.fround(Math.fround(data[base + plane + i] * std[1]) + mean[1]) * 255);
      let bl = Math.fround(Math.fround(Math.fround(data[base + 2 * plane + i] * std[2]) + mean[2]) * 255);
      r = r < 0 ? 0 : r > 255 ? 255 : r;
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      bl = bl < 0 ? 0 : bl > 255 ? 255 : bl;
      values[i] = palette ? palette.nearest(r, g, bl) : Math.trunc(Math.fround(Math.fround(Math.fround(r + g) + bl) / 3));
    }

    const [outHeight, outWidth] = sizes ? sizes[b] : [height, width];
    const ys = torchNearestIndices(height, outHeight);
    const xs = torchNearestIndices(width, outWidth);
    const seg = new Int32Array(outHeight * outWidth);
    const seen = new Uint8Array(numValues);
    for (let y = 0, o = 0; y < outHeight; y++) {
      const row = ys[y] * width;
      for (let x = 0; x < outWidth; x++, o++) {
        const v = values[row + xs[x]];
        seg[o] = v;
        seen[v] = 1;
      }
    }
    const labels: number[] = [];
    for (let v = 0; v < numValues; v++) if (seen[v]) labels.push(v);
    results.push({ segmentation: new Tensor('int32', seg, [outHeight, outWidth]), labels });
  }
  return results;
}


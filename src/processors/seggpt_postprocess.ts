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

/** The reference's per-channel float32 steps: `x·std + mean` → `·255` → clip to [0, 255]. */
function channelLevel(x: number, std: number, mean: number): number {
  const v = Math.fround(Math.fround(Math.fround(x * std) + mean) * 255);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * The per-pixel value on the model grid: HF's `int(mean of R, G, B)`, or (palette) the nearest colour's index.
 * `base` is the first pixel of the lower half of channel 0; channels are `plane` apart.
 */
function gridValues(data: Float32Array, base: number, plane: number, mean: number[], std: number[], palette: SegGPTPalette | null, values: Int32Array): void {
  const [m0, m1, m2] = mean;
  const [s0, s1, s2] = std;
  const n = values.length;
  for (let i = 0, p = base; i < n; i++, p++) {
    const r = channelLevel(data[p], s0, m0);
    const g = channelLevel(data[p + plane], s1, m1);
    const b = channelLevel(data[p + 2 * plane], s2, m2);
    values[i] = palette ? palette.nearest(r, g, b) : Math.trunc(Math.fround(Math.fround(Math.fround(r + g) + b) / 3));
  }
}

/**
 * seg[y][x] = values[ys[y]][xs[x]], marking each value seen. Nearest rows repeat (ys is non-decreasing), so a row is
 * gathered once and copied for the output rows that repeat it.
 */
function gather(values: Int32Array, width: number, ys: Int32Array, xs: Int32Array, seg: Int32Array, seen: Uint8Array): void {
  const outWidth = xs.length;
  for (let y = 0, o = 0; y < ys.length; y++, o += outWidth) {
    if (y > 0 && ys[y] === ys[y - 1]) {
      seg.copyWithin(o, o - outWidth, o);
      continue;
    }
    const row = ys[y] * width;
    for (let x = 0; x < outWidth; x++) {
      const v = values[row + xs[x]];
      seg[o + x] = v;
      seen[v] = 1;
    }
  }
}

/**
 * HF `SegGptImageProcessor.post_process_semantic_segmentation`, float32 step for step:
 * lower half of pred_masks → `x·std + mean` → `·255` → clip [0, 255] → torch nearest resize to the
 * target size → channel mean truncated to int, or (num_labels) argmin of the squared distance to the
 * palette colours, first index on ties. The per-pixel map is computed once on the model grid and then
 * gathered, which equals resizing first because nearest resizing only copies pixels. (The loops live in small
 * functions of their own, which the JIT optimises on their first calls.)
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
  const mean = image_mean.map(Math.fround);
  const std = image_std.map(Math.fround);
  const numValues = palette ? palette.num_labels + 1 : 256;

  const results: SegGPTSemanticSegmentation[] = [];
  const values = new Int32Array(height * width);
  for (let b = 0; b < batch; b++) {
    gridValues(data, b * 3 * plane + top * width, plane, mean, std, palette, values);
    const [outHeight, outWidth] = sizes ? sizes[b] : [height, width];
    const seg = new Int32Array(outHeight * outWidth);
    const seen = new Uint8Array(numValues);
    gather(values, width, torchNearestIndices(height, outHeight), torchNearestIndices(width, outWidth), seg, seen);
    const labels: number[] = [];
    for (let v = 0; v < numValues; v++) if (seen[v]) labels.push(v);
    results.push({ segmentation: new Tensor('int32', seg, [outHeight, outWidth]), labels });
  }
  return results;
}

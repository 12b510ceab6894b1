/** Comparisons of pred_masks [B, 3, 2h, w] between precision variants and the reference. */
import { absDiff } from '../dev/npy.js';

export interface MaskComparison {
  max_abs: number;
  mean_abs: number;
  /** Share of answer-half pixels whose binarised value (post-processed grey level ≥ 128) agrees. */
  binary_agreement: number;
}

/**
 * The answer (bottom) half of each batch item binarised the way post_process_semantic_segmentation without
 * num_labels reads it: grey = mean over channels of clip((x·std + mean)·255, 0, 255), foreground when ≥ 128
 * (the truncated int is ≥ 128 exactly when the mean is).
 */
export function binariseAnswer(pred: Float32Array, dims: readonly number[], mean: readonly number[], std: readonly number[]): Uint8Array {
  const [batch, channels, fullHeight, width] = dims;
  if (channels !== 3 || pred.length !== batch * 3 * fullHeight * width) throw new Error(`pred_masks dims [${dims.join(', ')}] do not match its data`);
  const top = Math.floor(fullHeight / 2);
  const plane = fullHeight * width;
  const grid = (fullHeight - top) * width;
  const out = new Uint8Array(batch * grid);
  for (let b = 0; b < batch; b++) {
    const base = b * 3 * plane + top * width;
    for (let i = 0; i < grid; i++) {
      let sum = 0;
      for (let c = 0; c < 3; c++) {
        const v = (pred[base + c * plane + i] * std[c] + mean[c]) * 255;
        sum += v < 0 ? 0 : v > 255 ? 255 : v;
      }
      out[b * grid + i] = sum / 3 >= 128 ? 1 : 0;
    }
  }
  return out;
}

export function compareMasks(
  actual: Float32Array,
  expected: Float32Array,
  dims: readonly number[],
  mean: readonly number[],
  std: readonly number[],
): MaskComparison {
  const diff = absDiff(actual, expected);
  const a = binariseAnswer(actual, dims, mean, std);
  const e = binariseAnswer(expected, dims, mean, std);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === e[i]) same++;
  return { max_abs: diff.max, mean_abs: diff.mean, binary_agreement: same / a.length };
}

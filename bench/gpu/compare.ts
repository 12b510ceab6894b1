/** Parity of one row's pred_masks against the CPU fp32 row: raw distance, and mask IoU after post-processing. */
import { Tensor } from '@huggingface/transformers';

import { absDiff } from '../../dev/npy.js';
import { SegGPTImageProcessor } from '../../src/index.node.js';
import type { InputsMeta } from './inputs.js';

export interface Parity {
  max_abs: number;
  mean_abs: number;
  /**
   * IoU of the foreground after `post_process_semantic_segmentation` (query size, no num_labels: grey level of the
   * answer half, foreground where it is ≥ 128, as the pipeline reads a binary answer); 1 when both are empty.
   */
  iou: number;
  /** Share of pixels on the same side of the threshold. */
  agreement: number;
  /** Foreground share of this row's mask. */
  foreground: number;
}

/** Foreground (grey ≥ 128) of the post-processed answer at the query's original size. */
export function foregroundMask(pred: Float32Array, dims: readonly number[], meta: InputsMeta): Uint8Array {
  const processor = new SegGPTImageProcessor({ image_mean: meta.image_mean, image_std: meta.image_std });
  const [{ segmentation }] = processor.post_process_semantic_segmentation({ pred_masks: new Tensor('float32', pred, [...dims]) }, [meta.original_size]);
  const grey = segmentation.data as Int32Array;
  const out = new Uint8Array(grey.length);
  for (let i = 0; i < grey.length; i++) out[i] = grey[i] >= 128 ? 1 : 0;
  return out;
}

export function parity(actual: Float32Array, reference: Float32Array, dims: readonly number[], meta: InputsMeta): Parity {
  const { max, mean } = absDiff(actual, reference);
  const a = foregroundMask(actual, dims, meta);
  const r = foregroundMask(reference, dims, meta);
  let inter = 0;
  let union = 0;
  let same = 0;
  let fg = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i] & r[i];
    union += a[i] | r[i];
    same += a[i] === r[i] ? 1 : 0;
    fg += a[i];
  }
  return { max_abs: max, mean_abs: mean, iou: union === 0 ? 1 : inter / union, agreement: same / a.length, foreground: fg / a.length };
}

/**
 * How far each precision variant may move pred_masks from fp32 on the seggpt-tiny cases (mean absolute difference).
 * The tiny model has random weights with large activations (|pred_masks| up to ~7), which is harsh on quantisation;
 * the bounds are ~2× what each variant shows there. The quality that matters (IoU on a trained model) is tested in
 * shapes_accuracy.test.ts.
 */
export const VARIANT_MEAN_ABS_BOUND: Record<string, number> = { fp16: 3e-3, q8: 5e-2, int8: 5e-2, uint8: 5e-2, q4: 0.4, q4f16: 0.4 };

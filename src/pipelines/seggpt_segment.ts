/**
 * The pipeline's side of a SegGPT call: label names in, Transformers.js-style segments out. The flow itself is
 * SegGPTSegmenter's (segmentation/segmenter.ts).
 */
import { RawImage } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import {
  checkOptionKeys,
  PROPAGATE_OPTION_KEYS,
  SEGMENT_OPTION_KEYS,
  SegGPTSegmenter,
  type SegGPTPrediction,
  type SegGPTPropagateOptions,
  type SegGPTSegmentOptions,
} from '../segmentation/segmenter.js';
import type { SegGPTImageInput } from '../processors/image_inputs.js';

/** Options of a SegGPT pipeline call. */
export interface SegGPTSegmentationOptions extends SegGPTSegmentOptions {
  /**
   * Names of classes 1..num_labels (several names imply num_labels = labels.length; one name labels a binary mask).
   * Default names: 'foreground' for a binary mask, else 'class_N' (semantic) or 'instance_N' (instance).
   */
  labels?: readonly string[] | null;
}

/** Options of the pipeline's `propagate`: a call's options plus `memory`. */
export interface SegGPTPropagationOptions extends SegGPTPropagateOptions {
  labels?: readonly string[] | null;
}

/** One segment, as Transformers.js image-segmentation pipelines return it. */
export interface SegGPTSegment {
  label: string;
  /** SegGPT gives no per-segment confidence. */
  score: null;
  /** 1-channel mask (255 inside, 0 outside) at the input image's size. */
  mask: RawImage;
}

const WHERE = 'SegGPT pipeline';
const CALL_KEYS = [...SEGMENT_OPTION_KEYS, 'labels'];
const PROPAGATE_KEYS = [...PROPAGATE_OPTION_KEYS, 'labels'];

interface Naming {
  labels: string[] | null;
  options: Record<string, unknown>;
}

/** Reads `labels` and fills in num_labels from it; returns the options the segmenter takes. */
function naming(raw: Record<string, unknown>): Naming {
  const { labels: rawLabels, ...options } = raw;
  if (rawLabels === undefined || rawLabels === null) return { labels: null, options };
  if (!Array.isArray(rawLabels) || rawLabels.length === 0 || !rawLabels.every((l) => typeof l === 'string')) {
    throw new InputError(`${WHERE}: labels must be a non-empty list of strings (names of classes 1, 2, …)`);
  }
  const labels = rawLabels as string[];
  const numLabels = options.num_labels ?? (labels.length > 1 ? labels.length : null);
  if (numLabels !== null && labels.length !== numLabels) {
    throw new InputError(`${WHERE}: ${labels.length} labels but num_labels is ${String(numLabels)}; name every class 1..num_labels once`);
  }
  return { labels, options: { ...options, num_labels: numLabels } };
}

function maskOf(prediction: SegGPTPrediction, id: number): RawImage {
  const data = new Uint8ClampedArray(prediction.ids.length);
  const { ids } = prediction;
  for (let i = 0; i < ids.length; i++) if (ids[i] === id) data[i] = 255;
  return new RawImage(data, prediction.width, prediction.height, 1);
}

/** Segments of one prediction: one per id found, named by `labels` or the defaults. */
export function segmentsOf(prediction: SegGPTPrediction, labels: readonly string[] | null): SegGPTSegment[] {
  const prefix = prediction.embedding_type === 'semantic' ? 'class' : 'instance';
  return prediction.found.map((id) => ({
    label: prediction.num_labels === null ? (labels?.[0] ?? 'foreground') : (labels?.[id - 1] ?? `${prefix}_${id}`),
    score: null,
    mask: maskOf(prediction, id),
  }));
}

/**
 * Segments `images` with SegGPT. A single image (not in an array) gives one list of segments; an array gives one
 * list per image.
 */
export async function segmentWithSegGPT(
  model: unknown,
  processor: unknown,
  images: SegGPTImageInput | readonly SegGPTImageInput[],
  rawOptions: SegGPTSegmentationOptions,
): Promise<SegGPTSegment[] | SegGPTSegment[][]> {
  const segmenter = new SegGPTSegmenter(model, processor, { where: WHERE });
  const { labels, options } = naming(checkOptionKeys(rawOptions, CALL_KEYS, WHERE));
  const predictions = await segmenter.segment(images, options as unknown as SegGPTSegmentOptions);
  const perImage = predictions.map((p) => segmentsOf(p, labels));
  return Array.isArray(images) ? perImage : perImage[0];
}

/** Video propagation for the pipeline: one list of segments per frame, as each frame is ready. */
export async function* propagateWithSegGPT(
  model: unknown,
  processor: unknown,
  frames: Iterable<SegGPTImageInput> | AsyncIterable<SegGPTImageInput>,
  rawOptions: SegGPTPropagationOptions,
): AsyncGenerator<SegGPTSegment[], void, undefined> {
  const segmenter = new SegGPTSegmenter(model, processor, { where: WHERE });
  const { labels, options } = naming(checkOptionKeys(rawOptions, PROPAGATE_KEYS, `${WHERE} propagate`));
  for await (const prediction of segmenter.propagate(frames, options as unknown as SegGPTPropagateOptions)) {
    yield segmentsOf(prediction, labels);
  }
}

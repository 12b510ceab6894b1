import { ImageSegmentationPipeline, Processor } from '@huggingface/transformers';

import type { SegGPTForImageSegmentation } from '../models/modeling_seggpt.js';
import type { SegGPTImageProcessor } from '../processors/image_processing_seggpt.js';
import type { SegGPTImageInput } from '../processors/image_inputs.js';
import {
  propagateWithSegGPT,
  segmentWithSegGPT,
  type SegGPTPropagationOptions,
  type SegGPTSegment,
  type SegGPTSegmentationOptions,
} from './seggpt_segment.js';

export type { SegGPTPropagationOptions, SegGPTSegment, SegGPTSegmentationOptions } from './seggpt_segment.js';

/** What a call returns for `images`: one list of segments for one image, a list of lists for an array. */
export type SegGPTSegmentationResult<T> = T extends readonly unknown[] ? SegGPTSegment[][] : SegGPTSegment[];

export interface SegGPTImageSegmentationPipelineArgs {
  task?: string;
  model: SegGPTForImageSegmentation;
  processor: SegGPTImageProcessor | Processor;
}

// The library types its pipeline as callable with its own options; SegGPT's call takes prompts instead.
const ImageSegmentationPipelineBase = ImageSegmentationPipeline as unknown as new (args: {
  task: string;
  model: SegGPTForImageSegmentation;
  processor: SegGPTImageProcessor | Processor;
  tokenizer: null;
}) => {
  task: string;
  model: SegGPTForImageSegmentation;
  processor: SegGPTImageProcessor | Processor;
  dispose(): Promise<void>;
};

// One generic signature rather than overloads: a mistyped option is then reported by name.
export interface SegGPTImageSegmentationPipeline {
  <T extends SegGPTImageInput | readonly SegGPTImageInput[]>(images: T, options: SegGPTSegmentationOptions): Promise<SegGPTSegmentationResult<T>>;
}

/**
 * In-context segmentation pipeline: segments whatever the prompt mask marks in the prompt image. Returns
 * `[{ label, score, mask }]` per class (or instance) found, masks at the input image's size; a list per image for an
 * array of images. It is an `ImageSegmentationPipeline` (same `dispose`, `model`, `processor`, `task`).
 *
 * **Example:** Segment a query image from one example (black/white prompt mask).
 * ```javascript
 * import { pipeline } from 'transformers-seggpt';
 *
 * const segmenter = await pipeline('image-segmentation', './seggpt-vit-large-onnx');
 * const segments = await segmenter('query.jpg', { prompt_images: 'prompt.jpg', prompt_masks: 'prompt_mask.png', labels: ['cat'] });
 * console.log(segments);
 * // [ { label: 'cat', score: null, mask: RawImage { width: 640, height: 480, channels: 1, ... } } ]
 * ```
 *
 * **Example:** Few-shot (several examples for one image, feature ensemble) with class-index masks.
 * ```javascript
 * const classes = await segmenter('street.jpg', {
 *   prompt_images: ['a.jpg', 'b.jpg'],
 *   prompt_masks: ['a_classes.png', 'b_classes.png'], // 1-channel, 0 = background, 1 = road, 2 = car
 *   labels: ['road', 'car'],
 *   embedding_type: 'semantic',
 * });
 * console.log(classes.map((s) => s.label)); // e.g. [ 'road', 'car' ]
 * ```
 */
export class SegGPTImageSegmentationPipeline extends ImageSegmentationPipelineBase {
  constructor({ task = 'image-segmentation', model, processor }: SegGPTImageSegmentationPipelineArgs) {
    super({ task, model, processor, tokenizer: null });
  }

  async _call(
    images: SegGPTImageInput | readonly SegGPTImageInput[],
    options: SegGPTSegmentationOptions,
  ): Promise<SegGPTSegment[] | SegGPTSegment[][]> {
    return segmentWithSegGPT(this.model, this.processor, images, options);
  }

  /**
   * Video: segments `frames` in order and yields each frame's segments as soon as they are ready. Frame t's prompts
   * are `prompt_images`/`prompt_masks` plus the predictions of the previous `memory` frames (default 8, oldest
   * dropped first), averaged by the feature ensemble as in the SegGPT paper; frame 0 equals a plain call.
   *
   * **Example:** Follow an object through a clip, from a mask of its first frame.
   * ```javascript
   * import { pipeline } from 'transformers-seggpt';
   *
   * const segmenter = await pipeline('seggpt', 'transformers-seggpt/seggpt-shapes');
   * const frames = ['frame_000.png', 'frame_001.png', 'frame_002.png'];
   * for await (const segments of segmenter.propagate(frames, { prompt_images: frames[0], prompt_masks: 'frame_000_mask.png' })) {
   *   console.log(segments.map((s) => s.label)); // [ 'foreground' ] while the object is in view
   * }
   * ```
   */
  propagate(
    frames: Iterable<SegGPTImageInput> | AsyncIterable<SegGPTImageInput>,
    options: SegGPTPropagationOptions,
  ): AsyncGenerator<SegGPTSegment[], void, undefined> {
    return propagateWithSegGPT(this.model, this.processor, frames, options);
  }
}

import { ImageSegmentationPipeline, Processor } from '@huggingface/transformers';

import type { SegGPTForImageSegmentation } from '../models/modeling_seggpt.js';
import type { SegGPTImageProcessor } from '../processors/image_processing_seggpt.js';
import type { SegGPTImageInput } from '../processors/seggpt_inputs.js';
import { segmentWithSegGPT, type SegGPTSegment, type SegGPTSegmentationOptions } from './seggpt_segment.js';

export type { SegGPTSegment, SegGPTSegmentationOptions } from './seggpt_segment.js';

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

export interface SegGPTImageSegmentationPipeline {
  (image: SegGPTImageInput, options: SegGPTSegmentationOptions): Promise<SegGPTSegment[]>;
  (images: readonly SegGPTImageInput[], options: SegGPTSegmentationOptions): Promise<SegGPTSegment[][]>;
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
 * const segments = await segmenter('street.jpg', {
 *   prompt_images: ['a.jpg', 'b.jpg'],
 *   prompt_masks: ['a_classes.png', 'b_classes.png'], // 1-channel, 0 = background, 1 = road, 2 = car
 *   labels: ['road', 'car'],
 *   embedding_type: 'semantic',
 * });
 * console.log(segments.map((s) => s.label)); // e.g. [ 'road', 'car' ]
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
}

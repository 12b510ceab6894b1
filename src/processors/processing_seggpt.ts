import { Processor } from '@huggingface/transformers';

import type { SegGPTImageProcessor, SegGPTImageProcessorCallOptions, SegGPTImageProcessorResult } from './image_processing_seggpt.js';
import type { SegGPTImageInputs } from './image_inputs.js';

/**
 * What `AutoProcessor.from_pretrained` returns for a SegGPT checkpoint: a Transformers.js `Processor` around the
 * SegGPTImageProcessor that also exposes its SegGPT methods, so `processor.post_process_semantic_segmentation(...)`
 * reads as in the Python docs.
 *
 * ```typescript
 * import { SegGPTForImageSegmentation, type SegGPTProcessor } from 'transformers-seggpt';
 * import { AutoProcessor } from '@huggingface/transformers';
 *
 * const processor = (await AutoProcessor.from_pretrained('./seggpt-vit-large-onnx')) as SegGPTProcessor;
 * const model = await SegGPTForImageSegmentation.from_pretrained('./seggpt-vit-large-onnx');
 * const inputs = await processor('query.jpg', { prompt_images: ['prompt.jpg'], prompt_masks: ['prompt_mask.png'] });
 * const outputs = await model(inputs, { embedding_type: 'semantic' });
 * const [{ segmentation }] = processor.post_process_semantic_segmentation(outputs, inputs.original_sizes);
 * ```
 */
export class SegGPTProcessor extends Processor {
  constructor(image_processor: SegGPTImageProcessor) {
    super({}, { image_processor }, null);
  }

  get seggpt_image_processor(): SegGPTImageProcessor {
    return this.image_processor as unknown as SegGPTImageProcessor;
  }

  override async _call(images: SegGPTImageInputs, options: SegGPTImageProcessorCallOptions): Promise<SegGPTImageProcessorResult> {
    return this.seggpt_image_processor(images, options);
  }

  get_palette(...args: Parameters<SegGPTImageProcessor['get_palette']>): ReturnType<SegGPTImageProcessor['get_palette']> {
    return this.seggpt_image_processor.get_palette(...args);
  }

  post_process_semantic_segmentation(
    ...args: Parameters<SegGPTImageProcessor['post_process_semantic_segmentation']>
  ): ReturnType<SegGPTImageProcessor['post_process_semantic_segmentation']> {
    return this.seggpt_image_processor.post_process_semantic_segmentation(...args);
  }

  pre_process_semantic_segmentation(label_maps: Parameters<SegGPTImageProcessor['pre_process_semantic_segmentation']>[0], num_labels: number) {
    return this.seggpt_image_processor.pre_process_semantic_segmentation(label_maps as never, num_labels);
  }
}

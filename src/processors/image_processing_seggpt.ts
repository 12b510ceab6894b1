import { ImageProcessor, RawImage, Tensor } from '@huggingface/transformers';

import { parseSegGPTPreprocessorConfig, type SegGPTPreprocessorConfigFields } from '../configs/seggpt_preprocessor_config.js';
import { InputError } from '../errors.js';
import { describeLoadFailure } from '../loading/load_errors.js';
import type { PixelBuffer } from '../utils/pixel_buffer.js';
import { asList, readImages, type SegGPTImageInputs } from './image_inputs.js';
import { labelMapsToRGB, type SegGPTLabelMap } from './seggpt_label_maps.js';
import { checkNumLabels, resolvePreprocessSettings, type SegGPTPreprocessOverrides } from './seggpt_options.js';
import { get_palette, SegGPTPalette, type RGB } from './seggpt_palette.js';
import { normalizationTable, writeImage, writeMask } from './seggpt_pixels.js';
import { postProcessSemanticSegmentation, type SegGPTSemanticSegmentation, type TargetSize } from './seggpt_postprocess.js';

/** Options of a processor call: the prompts, plus per-call overrides of preprocessor_config.json. */
export interface SegGPTImageProcessorCallOptions extends SegGPTPreprocessOverrides {
  /** Example images, one per prompt mask. */
  prompt_images: SegGPTImageInputs;
  /**
   * What to segment in each prompt image: a 1-channel class-index map (coloured with the palette when
   * num_labels is set, else its value is repeated on R, G and B) or, with do_convert_rgb: false, an RGB mask.
   */
  prompt_masks: SegGPTImageInputs;
}

/** Model inputs, float32 [batch, 3, size.height, size.width] each. */
export interface SegGPTImageProcessorResult {
  pixel_values: Tensor;
  prompt_pixel_values: Tensor;
  prompt_masks: Tensor;
  /** [height, width] of each query image before resizing: the usual post-processing target_sizes. */
  original_sizes: TargetSize[];
}

const PROMPT_KEYS = ['prompt_images', 'prompt_masks'] as const;

// The base class types `preprocess`/`_call` as one-image helpers; SegGPT's take the whole prompt set.
const ImageProcessorBase = ImageProcessor as unknown as new (
  config: SegGPTPreprocessorConfigFields,
) => Omit<ImageProcessor, 'preprocess' | '_call' | 'config'>;

export interface SegGPTImageProcessor {
  (images: SegGPTImageInputs, options: SegGPTImageProcessorCallOptions): Promise<SegGPTImageProcessorResult>;
}

/**
 * SegGPT image processor (HF `SegGptImageProcessor`), bit-exact with the Python/Pillow reference:
 * images are resized with a pure-TypeScript port of Pillow's resampling (same pixels in Node and in
 * browsers), prompt masks with Pillow's NEAREST rule.
 *
 * Batching: images, prompt_images and prompt_masks may each be one item or a list. prompt_images and
 * prompt_masks pair up and must have the same length. The batch holds one (image, prompt) pair per
 * item: equal counts pair up in order; a single image is repeated for every prompt (few-shot with
 * feature_ensemble) and a single prompt for every image. HF leaves that repetition to the caller (its
 * model rejects unequal batches); the resulting tensors are the same as repeating the item by hand.
 *
 * Images: 1-channel images are used as grey RGB; RGBA images lose their alpha channel (no compositing,
 * like PIL's `convert("RGB")`). In browsers a decoded image is always RGBA and its colour channels
 * may differ from Node's where alpha < 255 (canvas premultiplication); pass RGB images there.
 *
 * **Example:** Prepare a query image with one prompt and post-process the model output.
 * ```javascript
 * import { SegGPTForImageSegmentation, SegGPTImageProcessor } from 'transformers-seggpt';
 *
 * const processor = await SegGPTImageProcessor.from_pretrained('BAAI/seggpt-vit-large');
 * const model = await SegGPTForImageSegmentation.from_pretrained('BAAI/seggpt-vit-large', { dtype: 'q8' });
 * const inputs = await processor('query.jpg', {
 *   prompt_images: 'prompt.jpg',
 *   prompt_masks: 'prompt_classes.png', // 1-channel class ids: 0 = background, 1 = object
 *   num_labels: 1,
 * });
 * console.log(inputs.pixel_values.dims, inputs.prompt_masks.dims);
 * // [ 1, 3, 448, 448 ] [ 1, 3, 448, 448 ]
 * const outputs = await model(inputs);
 * const [{ segmentation, labels }] = processor.post_process_semantic_segmentation(outputs, inputs.original_sizes, 1);
 * console.log(labels); // e.g. [ 0, 1 ]
 * ```
 */
export class SegGPTImageProcessor extends ImageProcessorBase {
  /** The validated preprocessor_config.json (HF defaults applied). */
  declare config: SegGPTPreprocessorConfigFields;

  /** @param config The parsed preprocessor_config.json; missing fields take HF's defaults. */
  constructor(config: unknown = {}) {
    super(parseSegGPTPreprocessorConfig(config));
  }

  /** Loads preprocessor_config.json from a hub repo id or a local folder. */
  static async from_pretrained(
    pretrained_model_name_or_path: string,
    options?: Parameters<typeof ImageProcessor.from_pretrained>[1],
  ): Promise<SegGPTImageProcessor> {
    try {
      return (await ImageProcessor.from_pretrained.call(this, pretrained_model_name_or_path, options)) as unknown as SegGPTImageProcessor;
    } catch (error) {
      throw describeLoadFailure(error, { id: pretrained_model_name_or_path, ...options, file: 'preprocessor_config.json' });
    }
  }

  async _call(images: SegGPTImageInputs, options: SegGPTImageProcessorCallOptions): Promise<SegGPTImageProcessorResult> {
    return this.preprocess(images, options);
  }

  /** Same as calling the processor: HF `SegGptImageProcessor.preprocess`. */
  async preprocess(images: SegGPTImageInputs, options: SegGPTImageProcessorCallOptions): Promise<SegGPTImageProcessorResult> {
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new InputError(
        'SegGPTImageProcessor: the second argument must be an options object; pass { prompt_images, prompt_masks } (SegGPT needs an example)',
      );
    }
    const s = resolvePreprocessSettings(this.config, options as unknown as Record<string, unknown>, PROMPT_KEYS);
    const imageItems = asList(images, 'images', 'pass the image(s) to segment as the first argument');
    const promptItems = asList(options.prompt_images, 'prompt_images', 'pass the example image(s) as { prompt_images }');
    const maskItems = asList(options.prompt_masks, 'prompt_masks', 'pass one mask per prompt image as { prompt_masks }');
    if (promptItems.length !== maskItems.length) {
      throw new InputError(
        `SegGPTImageProcessor: ${promptItems.length} prompt_images but ${maskItems.length} prompt_masks; pass exactly one mask per prompt image`,
      );
    }
    const batch = batchSize(imageItems.length, promptItems.length);

    const maskHint = '; label maps held in Tensors or arrays go through pre_process_semantic_segmentation first';
    const [queries, prompts, masks] = await Promise.all([
      readImages(imageItems, 'images', '', s),
      readImages(promptItems, 'prompt_images', '', s),
      readImages(maskItems, 'prompt_masks', maskHint, s),
    ]);
    const { height, width } = s.do_resize ? s.size : commonSize(queries, prompts, masks);

    const palette = s.do_convert_rgb && s.num_labels !== null ? new SegGPTPalette(s.num_labels) : null;
    const table = normalizationTable(s);
    const chw = 3 * height * width;
    const pixel_values = new Float32Array(batch * chw);
    const prompt_pixel_values = new Float32Array(batch * chw);
    const prompt_masks = new Float32Array(batch * chw);

    fillBatch(queries, batch, chw, pixel_values, (image, offset) => writeImage(image, s, height, width, table, pixel_values, offset));
    fillBatch(prompts, batch, chw, prompt_pixel_values, (image, offset) =>
      writeImage(image, s, height, width, table, prompt_pixel_values, offset),
    );
    fillBatch(masks, batch, chw, prompt_masks, (mask, offset, i) =>
      writeMask(mask, `prompt_masks[${i}]`, s, palette, height, width, table, prompt_masks, offset),
    );

    const dims = [batch, 3, height, width];
    return {
      pixel_values: new Tensor('float32', pixel_values, dims),
      prompt_pixel_values: new Tensor('float32', prompt_pixel_values, dims),
      prompt_masks: new Tensor('float32', prompt_masks, dims),
      original_sizes: Array.from({ length: batch }, (_, b) => {
        const q = queries[queries.length === 1 ? 0 : b];
        return [q.height, q.width] as TargetSize;
      }),
    };
  }

  /** HF `get_palette`: num_labels + 1 RGB colours, index 0 black (background). */
  get_palette(num_labels: number): RGB[] {
    return get_palette(checkNumLabels(num_labels, 'num_labels') ?? requiredNumLabels('get_palette'));
  }

  /**
   * HF `post_process_semantic_segmentation`: one `{ segmentation, labels }` per batch item. Without
   * num_labels the map holds HF's `int(mean of R, G, B)` (0–255); with num_labels, class ids 0..num_labels.
   * @param outputs The model output, `{ pred_masks }` float32 [batch, 3, 2·height, width].
   * @param target_sizes [height, width] per batch item (e.g. `inputs.original_sizes`); null keeps the model size.
   * @param num_labels The value used when preprocessing (classes without the background).
   */
  post_process_semantic_segmentation(
    outputs: { pred_masks: Tensor },
    target_sizes: TargetSize[] | null = null,
    num_labels: number | null = null,
  ): SegGPTSemanticSegmentation[] {
    if (outputs === null || typeof outputs !== 'object') {
      throw new InputError('SegGPTImageProcessor.post_process_semantic_segmentation: pass the model output object ({ pred_masks })');
    }
    const labels = checkNumLabels(num_labels, 'num_labels');
    const palette = labels === null ? null : new SegGPTPalette(labels);
    return postProcessSemanticSegmentation(outputs.pred_masks, this.config.image_mean, this.config.image_std, target_sizes, palette);
  }

  /**
   * Inverse of post-processing with num_labels: colours class-index maps (0 = background) with the
   * palette, giving RGB RawImages to pass as prompt_masks together with do_convert_rgb: false.
   */
  pre_process_semantic_segmentation(label_maps: SegGPTLabelMap, num_labels: number): RawImage;
  pre_process_semantic_segmentation(label_maps: readonly SegGPTLabelMap[], num_labels: number): RawImage[];
  pre_process_semantic_segmentation(label_maps: SegGPTLabelMap | readonly SegGPTLabelMap[], num_labels: number): RawImage | RawImage[] {
    const labels = checkNumLabels(num_labels, 'num_labels') ?? requiredNumLabels('pre_process_semantic_segmentation');
    const list = Array.isArray(label_maps) ? label_maps : [label_maps];
    const images = labelMapsToRGB(list, new SegGPTPalette(labels));
    return Array.isArray(label_maps) ? images : images[0];
  }
}

function requiredNumLabels(method: string): never {
  throw new InputError(`SegGPTImageProcessor.${method}: num_labels is required; pass the number of classes without the background`);
}

/** One (image, prompt) pair per batch item; a single image or a single prompt is repeated. */
function batchSize(images: number, prompts: number): number {
  if (images === prompts || prompts === 1) return images;
  if (images === 1) return prompts;
  throw new InputError(
    `SegGPTImageProcessor: ${images} images but ${prompts} prompts; pass one prompt per image, a single prompt for all images, or a single image for all prompts`,
  );
}

/** Writes each distinct item once and copies it into the batch slots that repeat it. */
function fillBatch(
  items: PixelBuffer[],
  batch: number,
  chw: number,
  out: Float32Array,
  write: (item: PixelBuffer, offset: number, index: number) => void,
): void {
  items.forEach((item, i) => write(item, i * chw, i));
  for (let b = items.length; b < batch; b++) out.copyWithin(b * chw, 0, chw);
}

/** With do_resize false every image keeps its size, so all must agree. */
function commonSize(...groups: PixelBuffer[][]): { height: number; width: number } {
  const { height, width } = groups[0][0];
  const names = ['images', 'prompt_images', 'prompt_masks'];
  groups.forEach((group, g) =>
    group.forEach((image, i) => {
      if (image.height !== height || image.width !== width) {
        throw new InputError(
          `SegGPTImageProcessor: with do_resize false every image must have the same size, but ${names[g]}[${i}] is ${image.width}×${image.height} and images[0] is ${width}×${height}; resize them or leave do_resize on`,
        );
      }
    }),
  );
  return { height, width };
}

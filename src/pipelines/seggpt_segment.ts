/**
 * One pipeline call: prompts → processor → model → post-processing → Transformers.js-style segments.
 * Everything a call needs lives in its own locals, so concurrent calls on one pipeline never share state.
 */
import { Processor, RawImage, Tensor } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import { checkEmbeddingType, checkFeatureEnsemble, type SegGPTEmbeddingType } from '../models/seggpt_inputs.js';
import { SegGPTForImageSegmentation, SegGPTPreTrainedModel } from '../models/modeling_seggpt.js';
import { SegGPTImageProcessor } from '../processors/image_processing_seggpt.js';
import type { SegGPTImageInput, SegGPTImageInputs } from '../processors/seggpt_inputs.js';
import { checkNumLabels } from '../processors/seggpt_options.js';
import type { SegGPTSemanticSegmentation } from '../processors/seggpt_postprocess.js';
import { preparePromptMasks } from './seggpt_prompt_masks.js';

/** Options of a SegGPT pipeline call. */
export interface SegGPTSegmentationOptions {
  /** Example image(s). Several prompts for one image = few-shot (feature ensemble); one prompt may serve many images. */
  prompt_images: SegGPTImageInputs;
  /**
   * One mask per prompt image: black/white (0/255) for one object, a 1-channel class-index map (0 = background)
   * with `num_labels`, or a colour mask (palette colours with `num_labels`).
   */
  prompt_masks: SegGPTImageInputs;
  /** Number of classes (or instances) without the background; enables palette colouring and one mask per class. */
  num_labels?: number | null;
  /** Names of classes 1..num_labels (several names imply num_labels = labels.length; one name labels a binary mask). */
  labels?: readonly string[] | null;
  /** 'semantic' (each colour is a class) or 'instance' (each colour is an object); default: the model's ('instance'). */
  embedding_type?: SegGPTEmbeddingType | null;
  /** Default: true for several prompts on one image, false otherwise. */
  feature_ensemble?: boolean | null;
  /** Binary masks only: a pixel is in the mask when its predicted grey level / 255 exceeds this. Default 0.5. */
  threshold?: number;
  /** Image files declaring more pixels are refused before decoding (default DEFAULT_MAX_PIXELS, 64 Mi). */
  max_pixels?: number;
}

/** One segment, as Transformers.js image-segmentation pipelines return it. */
export interface SegGPTSegment {
  label: string;
  /** SegGPT gives no per-segment confidence. */
  score: number | null;
  /** 1-channel mask (255 inside, 0 outside) at the input image's size. */
  mask: RawImage;
}

const OPTION_KEYS = ['prompt_images', 'prompt_masks', 'num_labels', 'labels', 'embedding_type', 'feature_ensemble', 'threshold', 'max_pixels'];

function list(value: unknown, field: string): unknown[] {
  if (value === undefined || value === null) {
    throw new InputError(`SegGPT pipeline: ${field} is missing; SegGPT segments by example: pass { prompt_images, prompt_masks }`);
  }
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 0) throw new InputError(`SegGPT pipeline: ${field} is an empty list; pass at least one`);
  return items;
}

function checkOptions(options: unknown): SegGPTSegmentationOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InputError('SegGPT pipeline: the second argument must be an options object { prompt_images, prompt_masks, ... }');
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key)) {
      throw new InputError(`SegGPT pipeline: unknown option "${key}"; known options: ${OPTION_KEYS.join(', ')}`);
    }
  }
  return options as SegGPTSegmentationOptions;
}

function checkLabels(labels: unknown): string[] | null {
  if (labels === undefined || labels === null) return null;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string')) {
    throw new InputError('SegGPT pipeline: labels must be a non-empty list of strings (names of classes 1, 2, …)');
  }
  return labels;
}

function checkThreshold(value: unknown): number {
  if (value === undefined) return 0.5;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new InputError(`SegGPT pipeline: threshold must be a number from 0 to 1 (got ${JSON.stringify(value)})`);
  }
  return value;
}

function imageProcessorOf(processor: unknown): SegGPTImageProcessor {
  if (processor instanceof SegGPTImageProcessor) return processor;
  if (processor instanceof Processor && processor.image_processor instanceof SegGPTImageProcessor) {
    return processor.image_processor as unknown as SegGPTImageProcessor;
  }
  throw new InputError('SegGPT pipeline: the pipeline has no SegGPTImageProcessor; load it with SegGPTImageProcessor.from_pretrained');
}

function firstItem(pred_masks: Tensor): Tensor {
  const [, channels, height, width] = pred_masks.dims;
  const size = channels * height * width;
  return new Tensor('float32', (pred_masks.data as Float32Array).subarray(0, size), [1, channels, height, width]);
}

function maskOf(segmentation: Tensor, inside: (value: number) => boolean): RawImage | null {
  const [height, width] = segmentation.dims;
  const values = segmentation.data as Int32Array;
  const data = new Uint8ClampedArray(values.length);
  let any = false;
  for (let i = 0; i < values.length; i++) {
    if (inside(values[i])) {
      data[i] = 255;
      any = true;
    }
  }
  return any ? new RawImage(data, width, height, 1) : null;
}

function segmentsOf(
  result: SegGPTSemanticSegmentation,
  numLabels: number | null,
  labels: string[] | null,
  embeddingType: SegGPTEmbeddingType,
  threshold: number,
): SegGPTSegment[] {
  if (numLabels === null) {
    const level = threshold * 255;
    const mask = maskOf(result.segmentation, (grey) => grey > level);
    return mask ? [{ label: labels?.[0] ?? 'foreground', score: null, mask }] : [];
  }
  const prefix = embeddingType === 'semantic' ? 'class' : 'instance';
  const segments: SegGPTSegment[] = [];
  for (const id of result.labels) {
    if (id === 0) continue; // background
    const mask = maskOf(result.segmentation, (value) => value === id);
    if (mask) segments.push({ label: labels?.[id - 1] ?? `${prefix}_${id}`, score: null, mask });
  }
  return segments;
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
  if (!(model instanceof SegGPTForImageSegmentation)) {
    const name = model instanceof SegGPTPreTrainedModel ? model.constructor.name : 'this model';
    throw new InputError(`SegGPT pipeline: ${name} returns no pred_masks; load SegGPTForImageSegmentation`);
  }
  const imageProcessor = imageProcessorOf(processor);
  const options = checkOptions(rawOptions);
  const batched = Array.isArray(images);
  const imageList = list(images, 'images');
  const promptList = list(options.prompt_images, 'prompt_images');
  const maskList = list(options.prompt_masks, 'prompt_masks');
  if (promptList.length !== maskList.length) {
    throw new InputError(
      `SegGPT pipeline: ${promptList.length} prompt_images but ${maskList.length} prompt_masks; pass exactly one mask per prompt image`,
    );
  }
  const fewShot = imageList.length === 1 && promptList.length > 1;
  if (imageList.length > 1 && promptList.length !== 1 && promptList.length !== imageList.length) {
    throw new InputError(
      `SegGPT pipeline: ${imageList.length} images but ${promptList.length} prompts; pass one prompt per image, one prompt for all images, ` +
        'or several prompts for a single image',
    );
  }

  const featureEnsemble = checkFeatureEnsemble(options.feature_ensemble) ?? fewShot;
  if (fewShot && !featureEnsemble) {
    throw new InputError(
      'SegGPT pipeline: several prompts for one image need feature_ensemble (without it only the first prompt would count); ' +
        'leave feature_ensemble unset, or segment once per prompt',
    );
  }
  if (imageList.length > 1 && featureEnsemble) {
    throw new InputError(
      'SegGPT pipeline: feature_ensemble averages over the whole batch, which would mix different images; ' +
        'segment each image in its own call, or give one image several prompts',
    );
  }
  const embeddingType = model.get_embedding_type(checkEmbeddingType(options.embedding_type));
  const labels = checkLabels(options.labels);
  let numLabels = checkNumLabels(options.num_labels);
  if (numLabels === null && labels !== null && labels.length > 1) numLabels = labels.length;
  if (labels !== null && numLabels !== null && labels.length !== numLabels) {
    throw new InputError(`SegGPT pipeline: ${labels.length} labels but num_labels is ${numLabels}; name every class 1..num_labels once`);
  }
  const threshold = checkThreshold(options.threshold);

  const prepared = await preparePromptMasks(maskList, numLabels, imageProcessor, options.max_pixels);
  const inputs = await imageProcessor(imageList as SegGPTImageInput[], {
    prompt_images: promptList as SegGPTImageInput[],
    prompt_masks: prepared.masks,
    ...(options.max_pixels !== undefined && { max_pixels: options.max_pixels }),
    ...(numLabels !== null && { num_labels: numLabels }),
    ...(prepared.do_convert_rgb !== undefined && { do_convert_rgb: prepared.do_convert_rgb }),
  });
  const { pred_masks } = await model(inputs, { embedding_type: embeddingType, feature_ensemble: featureEnsemble });

  // Few-shot: the image is repeated once per prompt and the ensemble makes the items agree; keep the first, as the
  // reference SegGPT inference does.
  const results = fewShot
    ? imageProcessor.post_process_semantic_segmentation({ pred_masks: firstItem(pred_masks) }, [inputs.original_sizes[0]], numLabels)
    : imageProcessor.post_process_semantic_segmentation({ pred_masks }, inputs.original_sizes, numLabels);
  const perImage = results.map((result) => segmentsOf(result, numLabels, labels, embeddingType, threshold));
  return batched ? perImage : perImage[0];
}

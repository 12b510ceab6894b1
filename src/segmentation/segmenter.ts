/**
 * SegGPT's in-context segmentation flow, the one home of it: checks and defaults, few-shot repetition with the
 * feature ensemble, one model run per image, video propagation with a memory of predictions, cancellation.
 * The pipeline, the CLI and the browser demo call it and only adapt what goes in and what comes out.
 */
import { Processor, Tensor } from '@huggingface/transformers';

import { abortError } from '../conversion/http_source.js';
import { InputError } from '../errors.js';
import { checkEmbeddingType, checkFeatureEnsemble, type SegGPTEmbeddingType } from '../models/model_inputs.js';
import { SegGPTForImageSegmentation, SegGPTPreTrainedModel } from '../models/modeling_seggpt.js';
import { SegGPTImageProcessor } from '../processors/image_processing_seggpt.js';
import { asList, readImages, type SegGPTImageInput, type SegGPTImageInputs } from '../processors/image_inputs.js';
import { checkNumLabels } from '../processors/seggpt_options.js';
import type { PixelBuffer } from '../utils/pixel_buffer.js';
import { libraryWarning, type SegGPTWarningHandler } from '../utils/warnings.js';
import { predictionMask, preparePromptMasks } from './prompt_masks.js';

/** Options of one segmentation call: the examples and how to read them. */
export interface SegGPTSegmentOptions {
  /** Example image(s). Several prompts for one image = few-shot (feature ensemble); one prompt may serve many images. */
  prompt_images: SegGPTImageInputs;
  /**
   * One mask per prompt image: black/white (0/255) for one object, a 1-channel class-index map (0 = background)
   * with `num_labels`, or a colour mask (palette colours with `num_labels`).
   */
  prompt_masks: SegGPTImageInputs;
  /** Number of classes (or instances) without the background; enables palette colouring and one map id per class. */
  num_labels?: number | null;
  /** 'semantic' (each colour is a class) or 'instance' (each colour is an object); default: the model's ('instance'). */
  embedding_type?: SegGPTEmbeddingType | null;
  /** Average the answers of several prompts. Default: on when an image has several prompts. */
  feature_ensemble?: boolean | null;
  /** Binary masks only: a pixel is the object when its predicted grey level / 255 exceeds this. Default 0.5. */
  threshold?: number;
  /** Image files declaring more pixels are refused before decoding (default DEFAULT_MAX_PIXELS, 64 Mi). */
  max_pixels?: number;
  /** Cancels the call: it rejects with an AbortError at the next step (reading, preprocessing, each model run). */
  signal?: AbortSignal;
}

/** Options of `propagate`: a segmentation call's, plus how many earlier predictions serve as prompts. */
export interface SegGPTPropagateOptions extends SegGPTSegmentOptions {
  /**
   * Predictions of the previous frames kept as extra prompts, oldest dropped first (default 8, the best value on
   * DAVIS in the SegGPT paper); 0 uses the given prompts alone for every frame.
   */
  memory?: number;
}

/** The answer for one image. */
export interface SegGPTPrediction {
  width: number;
  height: number;
  /** Row-major, one per pixel: 0 = background; with num_labels the class (or instance) id, else 1 = the object. */
  ids: Int32Array;
  /** The ids present besides 0, ascending. */
  found: number[];
  /** Without num_labels: the predicted grey level (0–255, HF's map) per pixel that `threshold` cut; else null. */
  levels: Int32Array | null;
  num_labels: number | null;
  embedding_type: SegGPTEmbeddingType;
  /** Whether the run averaged over its prompts. */
  feature_ensemble: boolean;
  /** Prompts the answer came from (the given ones plus, in propagation, remembered frames). */
  prompts: number;
}

const BY_EXAMPLE = 'SegGPT segments by example: pass { prompt_images, prompt_masks }, one mask per prompt image';

export const DEFAULT_THRESHOLD = 0.5;
export const DEFAULT_MEMORY = 8;
export const SEGMENT_OPTION_KEYS = ['prompt_images', 'prompt_masks', 'num_labels', 'embedding_type', 'feature_ensemble', 'threshold', 'max_pixels', 'signal'] as const;
export const PROPAGATE_OPTION_KEYS = [...SEGMENT_OPTION_KEYS, 'memory'] as const;

interface Prompt {
  image: PixelBuffer;
  mask: PixelBuffer;
}

interface CallSettings {
  prompts: Prompt[];
  numLabels: number | null;
  embeddingType: SegGPTEmbeddingType;
  featureEnsemble: boolean | null;
  threshold: number;
  maxPixels: number | undefined;
  signal: AbortSignal | undefined;
}

/** Throws signal.reason as an AbortError when the call was cancelled. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** The closest known name to a mistyped one (edit distance ≤ 3), for "did you mean" hints. */
export function closestName(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = 4;
  for (const candidate of known) {
    const d = editDistance(name.toLowerCase(), candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    row = next;
  }
  return row[b.length];
}

/** Refuses keys outside `known`, naming the likely intended one. */
export function checkOptionKeys(options: unknown, known: readonly string[], where: string): Record<string, unknown> {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InputError(`${where}: the second argument must be an options object { prompt_images, prompt_masks, ... }`);
  }
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      const guess = closestName(key, known);
      throw new InputError(`${where}: unknown option "${key}"${guess ? ` (did you mean "${guess}"?)` : ''}; known options: ${known.join(', ')}`);
    }
  }
  return options as Record<string, unknown>;
}

function checkThreshold(value: unknown, where: string): number {
  if (value === undefined) return DEFAULT_THRESHOLD;
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new InputError(`${where}: threshold must be a number from 0 to 1 (got ${JSON.stringify(value)})`);
  }
  return value;
}

function checkMemory(value: unknown, where: string): number {
  if (value === undefined) return DEFAULT_MEMORY;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 64) {
    throw new InputError(`${where}: memory must be an integer from 0 to 64, the number of earlier predictions used as prompts (got ${JSON.stringify(value)})`);
  }
  return value;
}

function checkSignal(value: unknown, where: string): AbortSignal | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof AbortSignal !== 'undefined' && value instanceof AbortSignal) return value;
  throw new InputError(`${where}: signal must be an AbortSignal (e.g. new AbortController().signal)`);
}

function imageProcessorOf(processor: unknown, where: string): SegGPTImageProcessor {
  if (processor instanceof SegGPTImageProcessor) return processor;
  if (processor instanceof Processor && processor.image_processor instanceof SegGPTImageProcessor) {
    return processor.image_processor as unknown as SegGPTImageProcessor;
  }
  throw new InputError(`${where}: no SegGPTImageProcessor was given; load it with SegGPTImageProcessor.from_pretrained`);
}

function aspectMismatch(image: PixelBuffer, mask: PixelBuffer): boolean {
  const a = image.width / image.height;
  const b = mask.width / mask.height;
  return Math.abs(a - b) / a > 0.01;
}

/** Row `index` of a [batch, 3, H, W] tensor as its own [1, 3, H, W] tensor (a view, no copy). */
function batchItem(pred_masks: Tensor, index: number): Tensor {
  const [, channels, height, width] = pred_masks.dims;
  const size = channels * height * width;
  return new Tensor('float32', (pred_masks.data as Float32Array).subarray(index * size, (index + 1) * size), [1, channels, height, width]);
}

/**
 * Runs SegGPT's flow on a model and its processor. Every call keeps its state in its own locals, so concurrent calls
 * on one segmenter never share anything.
 */
export class SegGPTSegmenter {
  readonly model: SegGPTForImageSegmentation;
  readonly processor: SegGPTImageProcessor;
  readonly #warn: SegGPTWarningHandler;
  readonly #where: string;

  /**
   * @param model A SegGPTForImageSegmentation (the classes without pred_masks are refused).
   * @param processor Its SegGPTImageProcessor, or a Processor holding one.
   * @param options `warn` receives warnings (default: console.warn, silenced by env.logLevel); `where` prefixes messages.
   */
  constructor(model: unknown, processor: unknown, options: { warn?: SegGPTWarningHandler; where?: string } = {}) {
    this.#where = options.where ?? 'SegGPT';
    if (!(model instanceof SegGPTForImageSegmentation)) {
      const name = model instanceof SegGPTPreTrainedModel ? model.constructor.name : 'this model';
      throw new InputError(`${this.#where}: ${name} returns no pred_masks; load SegGPTForImageSegmentation`);
    }
    this.model = model;
    this.processor = imageProcessorOf(processor, this.#where);
    this.#warn = options.warn ?? libraryWarning;
  }

  /**
   * Segments each image from the examples: one prompt for all images, one prompt per image, or several prompts for
   * a single image (few-shot, averaged by the feature ensemble). Each image is its own model run, so its answer never
   * depends on the other images of the call.
   */
  async segment(images: SegGPTImageInputs, options: SegGPTSegmentOptions): Promise<SegGPTPrediction[]> {
    const raw = checkOptionKeys(options, SEGMENT_OPTION_KEYS, this.#where);
    const signal = checkSignal(raw.signal, this.#where);
    checkAborted(signal);
    const imageItems = asList(images, 'images', 'pass the image(s) to segment as the first argument', this.#where);
    const settings = await this.#settings(raw, signal);
    const { prompts } = settings;
    if (imageItems.length > 1 && prompts.length !== 1 && prompts.length !== imageItems.length) {
      throw new InputError(
        `${this.#where}: ${imageItems.length} images but ${prompts.length} prompts; pass one prompt per image, one prompt for all images, ` +
          'or several prompts for a single image',
      );
    }
    const queries = await readImages(imageItems, 'images', '', { max_pixels: settings.maxPixels });
    const paired = queries.length > 1 && prompts.length === queries.length;
    const masks = preparePromptMasks(prompts.map((p) => p.mask), settings.numLabels, this.processor);
    this.#warnOnAspectMismatch(prompts);
    const prepared = prompts.map((p, i) => ({ image: p.image, mask: masks.masks[i] }));
    const results: SegGPTPrediction[] = [];
    for (let i = 0; i < queries.length; i++) {
      results.push(await this.#run(queries[i], paired ? [prepared[i]] : prepared, masks.do_convert_rgb, settings));
    }
    return results;
  }

  /**
   * Video: segments the frames in order, one result per frame as soon as it is ready. Each frame's prompts are the
   * given ones plus the predictions of the last `memory` frames (oldest dropped first), averaged by the feature
   * ensemble, as in the SegGPT paper. Frame 0 equals `segment(frame0, options)`. `frames` may be an array or an
   * (async) iterable, so frames can be decoded while earlier ones run.
   */
  async *propagate(
    frames: Iterable<SegGPTImageInput> | AsyncIterable<SegGPTImageInput>,
    options: SegGPTPropagateOptions,
  ): AsyncGenerator<SegGPTPrediction, void, undefined> {
    const raw = checkOptionKeys(options, PROPAGATE_OPTION_KEYS, `${this.#where} propagate`);
    const signal = checkSignal(raw.signal, this.#where);
    const memory = checkMemory(raw.memory, `${this.#where} propagate`);
    if (frames === null || typeof frames !== 'object' || (!(Symbol.iterator in frames) && !(Symbol.asyncIterator in frames)) || typeof frames === 'string') {
      throw new InputError(`${this.#where} propagate: frames must be an array or an (async) iterable of images, in display order`);
    }
    checkAborted(signal);
    const settings = await this.#settings(raw, signal);
    const given = preparePromptMasks(settings.prompts.map((p) => p.mask), settings.numLabels, this.processor);
    // Coloured on the first frame that has remembered predictions, after frame 0 has checked the masks.
    let givenRGB: ReturnType<typeof preparePromptMasks> | null = null;
    this.#warnOnAspectMismatch(settings.prompts);
    const remembered: Prompt[] = [];
    let index = 0;
    for await (const frame of frames as AsyncIterable<SegGPTImageInput>) {
      checkAborted(signal);
      const [image] = await readImages([frame], `frames[${index}]`, '', { max_pixels: settings.maxPixels });
      // Without remembered frames the call is exactly segment()'s; with them every mask goes in as RGB.
      const masks = remembered.length === 0 ? given : (givenRGB ??= preparePromptMasks(settings.prompts.map((p) => p.mask), settings.numLabels, this.processor, true));
      const prompts = [...settings.prompts.map((p, i) => ({ image: p.image, mask: masks.masks[i] })), ...remembered];
      const result = await this.#run(image, prompts, remembered.length === 0 ? masks.do_convert_rgb : false, settings);
      // Remembered before the result is handed out, so a consumer that keeps or transfers its arrays changes nothing.
      if (memory > 0) {
        remembered.push({ image, mask: predictionMask(result.ids, result.width, result.height, settings.numLabels, this.processor) });
        if (remembered.length > memory) remembered.shift();
      }
      yield result;
      index++;
    }
  }

  /** Checks the options shared by segment and propagate, and reads the prompts once. */
  async #settings(raw: Record<string, unknown>, signal: AbortSignal | undefined): Promise<CallSettings> {
    const where = this.#where;
    const promptItems = asList(raw.prompt_images, 'prompt_images', BY_EXAMPLE, where);
    const maskItems = asList(raw.prompt_masks, 'prompt_masks', BY_EXAMPLE, where);
    if (promptItems.length !== maskItems.length) {
      throw new InputError(`${where}: ${promptItems.length} prompt_images but ${maskItems.length} prompt_masks; pass exactly one mask per prompt image`);
    }
    const numLabels = checkNumLabels(raw.num_labels);
    const embeddingType = this.model.get_embedding_type(checkEmbeddingType(raw.embedding_type));
    const featureEnsemble = checkFeatureEnsemble(raw.feature_ensemble);
    const threshold = checkThreshold(raw.threshold, where);
    const maxPixels = raw.max_pixels as number | undefined;
    const maskHint = '; label maps held in Tensors or arrays go through pre_process_semantic_segmentation first';
    const [images, masks] = await Promise.all([
      readImages(promptItems, 'prompt_images', '', { max_pixels: maxPixels }),
      readImages(maskItems, 'prompt_masks', maskHint, { max_pixels: maxPixels }),
    ]);
    checkAborted(signal);
    return { prompts: images.map((image, i) => ({ image, mask: masks[i] })), numLabels, embeddingType, featureEnsemble, threshold, maxPixels, signal };
  }

  /** Warns about prompt masks that will not line up with their images once both are resized. */
  #warnOnAspectMismatch(prompts: readonly Prompt[]): void {
    prompts.forEach(({ image, mask }, i) => {
      if (aspectMismatch(image, mask)) {
        this.#warn(
          `${this.#where}: prompt_masks[${i}] (${mask.width}×${mask.height}) has another aspect ratio than prompt_images[${i}] ` +
            `(${image.width}×${image.height}); both are resized to the model's input size, so the mask may not line up`,
        );
      }
    });
  }

  /** One model run: the query repeated once per prompt, row 0 of the answer post-processed at the query's size. */
  async #run(query: PixelBuffer, prompts: Prompt[], doConvertRGB: false | undefined, s: CallSettings): Promise<SegGPTPrediction> {
    const featureEnsemble = s.featureEnsemble ?? prompts.length > 1;
    if (prompts.length > 1 && !featureEnsemble) {
      throw new InputError(
        `${this.#where}: several prompts for one image need feature_ensemble (without it only the first prompt would count); ` +
          'leave feature_ensemble unset, or segment once per prompt',
      );
    }
    checkAborted(s.signal);
    const inputs = await this.processor([query], {
      prompt_images: prompts.map((p) => p.image),
      prompt_masks: prompts.map((p) => p.mask),
      ...(s.maxPixels !== undefined && { max_pixels: s.maxPixels }),
      ...(s.numLabels !== null && { num_labels: s.numLabels }),
      ...(doConvertRGB !== undefined && { do_convert_rgb: doConvertRGB }),
    });
    checkAborted(s.signal);
    const { pred_masks } = await this.model(inputs, { embedding_type: s.embeddingType, feature_ensemble: featureEnsemble });
    checkAborted(s.signal);
    // With the ensemble every row carries the same answer; row 0 is the result, as in the reference inference.
    const [result] = this.processor.post_process_semantic_segmentation({ pred_masks: batchItem(pred_masks, 0) }, [inputs.original_sizes[0]], s.numLabels);
    const [height, width] = result.segmentation.dims;
    const values = result.segmentation.data as Int32Array;
    let ids: Int32Array;
    let found: number[];
    if (s.numLabels === null) {
      const level = s.threshold * 255;
      ids = new Int32Array(values.length);
      let any = false;
      for (let i = 0; i < values.length; i++) {
        if (values[i] > level) {
          ids[i] = 1;
          any = true;
        }
      }
      found = any ? [1] : [];
    } else {
      ids = values;
      found = result.labels.filter((id) => id !== 0);
    }
    const levels = s.numLabels === null ? values : null;
    return { width, height, ids, found, levels, num_labels: s.numLabels, embedding_type: s.embeddingType, feature_ensemble: featureEnsemble, prompts: prompts.length };
  }
}

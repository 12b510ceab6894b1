/**
 * `pipeline()` with SegGPT: the Transformers.js factory, except that image segmentation with a SegGPT checkpoint
 * (or the alias 'seggpt') returns a SegGPTImageSegmentationPipeline. Every other call is forwarded untouched.
 */
import {
  AutoConfig,
  pipeline as transformersPipeline,
  type AllTasks,
  type PipelineType,
  type PretrainedModelOptions,
} from '@huggingface/transformers';

import { SegGPTConfigError, SegGPTError } from '../errors.js';
import { describeLoadFailure } from '../loading/load_errors.js';
import { SegGPTForImageSegmentation } from '../models/modeling_seggpt.js';
import { SegGPTImageProcessor } from '../processors/image_processing_seggpt.js';
import { SegGPTImageSegmentationPipeline } from './image_segmentation_seggpt.js';

/** What the alias 'seggpt' loads: BAAI's checkpoint (converted on first use); point it elsewhere with setDefaultSegGPTModel. */
export let SEGGPT_DEFAULT_MODEL = 'BAAI/seggpt-vit-large';

/** Sets the repo id or local folder that `pipeline('seggpt')` / `pipeline('image-segmentation', 'seggpt')` load. */
export function setDefaultSegGPTModel(model: string): void {
  if (typeof model !== 'string' || model.trim() === '') {
    throw new SegGPTConfigError('setDefaultSegGPTModel: pass a hub repo id or a local folder of a converted SegGPT model');
  }
  SEGGPT_DEFAULT_MODEL = model;
}

export const SEGGPT_ALIAS = 'seggpt';

/**
 * Model names that name SegGPT (`'seggpt'`, `'BAAI/seggpt-vit-large'`, `'./seggpt-shapes-onnx'`, …): for these,
 * `pipeline('image-segmentation', name)` is typed as the SegGPT pipeline. The type is a convenience only; at run time
 * the checkpoint's config decides, whatever its name.
 */
export type SegGPTModelName = `${string}${'seggpt' | 'SegGPT' | 'SegGpt' | 'Seggpt'}${string}`;

/** Loads the model (SegGPTForImageSegmentation) and its SegGPTImageProcessor, then builds the pipeline. */
export async function loadSegGPTPipeline(model: string, options: PretrainedModelOptions = {}): Promise<SegGPTImageSegmentationPipeline> {
  const [segModel, processor] = await Promise.all([
    SegGPTForImageSegmentation.from_pretrained(model, options),
    SegGPTImageProcessor.from_pretrained(model, options),
  ]);
  options.progress_callback?.({ status: 'ready', task: 'image-segmentation', model });
  return new SegGPTImageSegmentationPipeline({ task: 'image-segmentation', model: segModel, processor });
}

/**
 * Whether `model`'s config.json says model_type "seggpt". A config that cannot be read because the repo is missing,
 * private or unreachable throws the typed load error (naming the repo, the host and the fix); other failures answer
 * false (the library then reports its own error); a SegGPT config with bad fields throws SegGPTConfigError.
 */
async function isSegGPTCheckpoint(model: string, options: PretrainedModelOptions): Promise<boolean> {
  const { config, cache_dir, local_files_only, revision } = options;
  try {
    const resolved = await AutoConfig.from_pretrained(model, { config, cache_dir, local_files_only, revision });
    return resolved.model_type === 'seggpt';
  } catch (error) {
    if (error instanceof SegGPTConfigError) throw error;
    const described = describeLoadFailure(error, { id: model, revision, local_files_only, file: 'config.json' });
    if (described instanceof SegGPTError) throw described;
    return false;
  }
}

/**
 * Builds a pipeline. `task` 'seggpt', or 'image-segmentation' with a SegGPT checkpoint or the model 'seggpt'
 * (→ SEGGPT_DEFAULT_MODEL), gives a SegGPTImageSegmentationPipeline; everything else is Transformers.js `pipeline()`.
 *
 * **Example:**
 * ```javascript
 * import { pipeline } from 'transformers-seggpt';
 *
 * const segmenter = await pipeline('image-segmentation', '/models/seggpt-vit-large-onnx', { dtype: 'fp16' });
 * const segments = await segmenter('query.jpg', { prompt_images: 'prompt.jpg', prompt_masks: 'prompt_mask.png' });
 * // Other tasks and models are Transformers.js's own, e.g. pipeline('image-classification', 'Xenova/vit-base-patch16-224').
 * ```
 */
export async function pipeline(
  task: 'seggpt',
  model?: string | null,
  options?: PretrainedModelOptions,
): Promise<SegGPTImageSegmentationPipeline>;
export async function pipeline(
  task: 'image-segmentation',
  model: SegGPTModelName,
  options?: PretrainedModelOptions,
): Promise<SegGPTImageSegmentationPipeline>;
export async function pipeline(
  task: 'image-segmentation',
  model?: string | null,
  options?: PretrainedModelOptions,
): Promise<SegGPTImageSegmentationPipeline | AllTasks['image-segmentation']>;
export async function pipeline<T extends PipelineType>(task: T, model?: string | null, options?: PretrainedModelOptions): Promise<AllTasks[T]>;
export async function pipeline(
  task: string,
  model: string | null = null,
  options: PretrainedModelOptions = {},
): Promise<unknown> {
  if (task === SEGGPT_ALIAS) {
    return loadSegGPTPipeline(model === null || model === SEGGPT_ALIAS ? SEGGPT_DEFAULT_MODEL : model, options);
  }
  if (task === 'image-segmentation' && model !== null) {
    if (model === SEGGPT_ALIAS) return loadSegGPTPipeline(SEGGPT_DEFAULT_MODEL, options);
    if (await isSegGPTCheckpoint(model, options)) return loadSegGPTPipeline(model, options);
  }
  return transformersPipeline(task as PipelineType, model ?? undefined, options);
}

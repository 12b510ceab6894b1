/**
 * Teaches Transformers.js' Auto classes about SegGPT. Transformers.js 4.3.1 has no registration API and keeps its
 * class tables module-private, so this hooks in only through exported objects:
 *
 * 1. adds `'seggpt' → 'PreTrainedModel'` to the image-segmentation registry Map (reached through
 *    `AutoModelForImageSegmentation.MODEL_CLASS_MAPPINGS`), the way the library registers its own custom
 *    architectures: `supports('seggpt')` becomes true and file resolution stops warning about an unknown type;
 * 2. wraps the static `from_pretrained` of AutoConfig, AutoModel, AutoModelForImageSegmentation, AutoImageProcessor
 *    and AutoProcessor: SegGPT checkpoints get our classes, every other checkpoint goes to the original method;
 * 3. wraps `ImageSegmentationPipeline.prototype._call` so the library's own `pipeline()` runs SegGPT models through
 *    our segmentation (other models: the original `_call`).
 */
import {
  AutoConfig,
  AutoImageProcessor,
  AutoModel,
  AutoModelForImageSegmentation,
  AutoProcessor,
  ImageProcessor,
  ImageSegmentationPipeline,
  PretrainedConfig,
  Processor,
} from '@huggingface/transformers';

import { SegGPTConfig } from './configs/seggpt_config.js';
import { SegGPTForImageSegmentation, SegGPTModel, SegGPTPreTrainedModel } from './models/modeling_seggpt.js';
import { describeLoadFailure } from './loading/load_errors.js';
import { InputError } from './errors.js';
import { propagateWithSegGPT, segmentWithSegGPT } from './pipelines/seggpt_segment.js';
import { SegGPTImageProcessor } from './processors/image_processing_seggpt.js';
import { SegGPTProcessor } from './processors/processing_seggpt.js';

export const SEGGPT_MODEL_TYPE = 'seggpt';
export const SEGGPT_IMAGE_PROCESSOR_TYPE = 'SegGptImageProcessor';

// Marks the Transformers.js instance (not this module), so two copies of this package never wrap twice.
const REGISTERED = Symbol.for('transformers-seggpt.registered');

type AnyFunction = (this: unknown, ...args: any[]) => any;

/** Replaces a static/prototype method, keeping its name; `wrap` receives the original. */
function wrapMethod(target: object, name: string, wrap: (original: AnyFunction) => AnyFunction): void {
  const original = (target as Record<string, AnyFunction>)[name];
  const wrapped = wrap(original);
  Object.defineProperty(wrapped, 'name', { value: name });
  Object.defineProperty(target, name, { value: wrapped, writable: true, configurable: true, enumerable: false });
}

function isSegGPTConfig(config: unknown): boolean {
  return typeof config === 'object' && config !== null && (config as { model_type?: unknown }).model_type === SEGGPT_MODEL_TYPE;
}

function isSegGPTPreprocessor(json: Record<string, unknown>): boolean {
  const type = json.image_processor_type ?? json.feature_extractor_type;
  return typeof type === 'string' && type.replace(/Fast$/, '') === SEGGPT_IMAGE_PROCESSOR_TYPE;
}

/** Holds the raw JSON: `ImageProcessor.from_pretrained` fetches preprocessor_config.json and calls `new this(json)`. */
class PreprocessorJSON {
  constructor(readonly json: Record<string, unknown>) {}
}

/** Reads preprocessor_config.json with the library's own hub code (env, cache, revision, local_files_only, progress). */
async function readPreprocessorConfig(id: string, options: unknown): Promise<Record<string, unknown>> {
  try {
    const holder = (await (ImageProcessor.from_pretrained as AnyFunction).call(PreprocessorJSON, id, options)) as PreprocessorJSON;
    return holder.json ?? {};
  } catch (error) {
    throw describeLoadFailure(error, { id, ...(options as object), file: 'preprocessor_config.json' });
  }
}

function registerModelType(): void {
  const mapping = AutoModelForImageSegmentation.MODEL_CLASS_MAPPINGS?.[0];
  if (mapping instanceof Map && !mapping.has(SEGGPT_MODEL_TYPE)) mapping.set(SEGGPT_MODEL_TYPE, 'PreTrainedModel');
}

function hookAutoConfig(): void {
  wrapMethod(AutoConfig, 'from_pretrained', (original) => async function (this: unknown, id: string, ...rest: unknown[]) {
    const config = await original.call(this, id, ...rest);
    if (!isSegGPTConfig(config) || config instanceof SegGPTConfig) return config;
    return new SegGPTConfig(config, `${id}/config.json`);
  });
}

/** SegGPT classes by the architecture names of hub configs. */
const ARCHITECTURES: Record<string, typeof SegGPTPreTrainedModel> = {
  SegGptModel: SegGPTModel,
  SegGptForImageSegmentation: SegGPTForImageSegmentation,
};

/**
 * AutoModel follows the checkpoint's `architectures` (hub SegGPT configs name SegGptForImageSegmentation, so AutoModel
 * returns the model with its decoder, as Transformers.js does for SAM); AutoModelForImageSegmentation always does.
 */
function classFor(config: PretrainedConfig, fallback: typeof SegGPTPreTrainedModel): typeof SegGPTPreTrainedModel {
  const architecture = (config as { architectures?: unknown }).architectures;
  return (Array.isArray(architecture) && ARCHITECTURES[architecture[0] as string]) || fallback;
}

function hookAutoModel(auto: object, fallback: typeof SegGPTPreTrainedModel, followArchitectures: boolean): void {
  wrapMethod(auto, 'from_pretrained', (original) => async function (this: unknown, id: string, options: Record<string, unknown> = {}) {
    const config = (await AutoConfig.from_pretrained(id, options)) as PretrainedConfig;
    if (isSegGPTConfig(config)) {
      const segClass = followArchitectures ? classFor(config, fallback) : fallback;
      return segClass.from_pretrained(id, { ...options, config });
    }
    return original.call(this, id, { ...options, config });
  });
}

function hookProcessors(): void {
  wrapMethod(AutoImageProcessor, 'from_pretrained', (original) => async function (this: unknown, id: string, options: unknown = {}) {
    const json = await readPreprocessorConfig(id, options);
    if (isSegGPTPreprocessor(json)) return new SegGPTImageProcessor(json);
    return original.call(this, id, options);
  });
  wrapMethod(AutoProcessor, 'from_pretrained', (original) => async function (this: unknown, id: string, options: unknown = {}) {
    const json = await readPreprocessorConfig(id, options);
    if (isSegGPTPreprocessor(json)) return new SegGPTProcessor(new SegGPTImageProcessor(json));
    return original.call(this, id, options);
  });
}

function hookImageSegmentationPipeline(): void {
  wrapMethod(ImageSegmentationPipeline.prototype, '_call', (original) => function (this: unknown, images: unknown, ...rest: unknown[]) {
    const self = this as { model?: unknown; processor?: unknown };
    if (self.model instanceof SegGPTPreTrainedModel) {
      return segmentWithSegGPT(self.model, self.processor, images as never, rest[0] as never);
    }
    return original.call(this, images, ...rest);
  });
  // The library's pipeline gains SegGPT's video mode too, for pipelines holding a SegGPT model.
  const proto = ImageSegmentationPipeline.prototype as unknown as Record<string, unknown>;
  if (!('propagate' in proto)) {
    Object.defineProperty(proto, 'propagate', {
      configurable: true,
      writable: true,
      value: function propagate(this: { model?: unknown; processor?: unknown }, frames: unknown, options: unknown) {
        if (!(this.model instanceof SegGPTPreTrainedModel)) {
          throw new InputError('propagate: only image-segmentation pipelines of a SegGPT model propagate prompts through frames');
        }
        return propagateWithSegGPT(this.model, this.processor, frames as never, options as never);
      },
    });
  }
}

/**
 * Makes AutoConfig, AutoModel, AutoModelForImageSegmentation, AutoImageProcessor, AutoProcessor and the library's
 * `pipeline('image-segmentation', …)` handle SegGPT checkpoints (model_type 'seggpt', image_processor_type
 * 'SegGptImageProcessor'). Idempotent; `import 'transformers-seggpt'` calls it. Other model types resolve as before.
 */
export function registerSegGPT(): void {
  const marker = AutoConfig as unknown as Record<symbol, unknown>;
  if (marker[REGISTERED]) return;
  registerModelType();
  hookAutoConfig();
  hookAutoModel(AutoModel, SegGPTModel, true);
  hookAutoModel(AutoModelForImageSegmentation, SegGPTForImageSegmentation, false);
  hookProcessors();
  hookImageSegmentationPipeline();
  Object.defineProperty(marker, REGISTERED, { value: true });
}

/** Whether registerSegGPT has run on this Transformers.js instance. */
export function isSegGPTRegistered(): boolean {
  return Boolean((AutoConfig as unknown as Record<symbol, unknown>)[REGISTERED]);
}

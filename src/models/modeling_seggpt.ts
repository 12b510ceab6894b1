/**
 * SegGPT model classes (HF `SegGptModel`, `SegGptForImageSegmentation`) on one ONNX file, `onnx/model<suffix>.onnx`.
 */
import { AutoConfig, PreTrainedModel, Tensor, type PretrainedModelOptions } from '@huggingface/transformers';

import { SegGPTConfig } from '../configs/seggpt_config.js';
import { supportsFeatureEnsemble } from '../configs/seggpt_config_fields.js';
import { InputError } from '../errors.js';
import {
  SEGGPT_INPUT_NAMES,
  buildFeeds,
  checkEmbeddingType,
  checkFeatureEnsemble,
  checkImageTensors,
  type SegGPTEmbeddingType,
  type SegGPTForwardOptions,
  type SegGPTModelInputs,
} from './model_inputs.js';
import { describeLoadFailure } from '../loading/load_errors.js';
import type { SegGPTPretrainedOptions } from '../loading/load_sessions.js';
import { loadSegGPTSessions, runSegGPTSession, sessionInputNames } from './seggpt_session.js';

export { SEGGPT_EMBEDDING_TYPES, type SegGPTEmbeddingType, type SegGPTForwardOptions, type SegGPTModelInputs } from './model_inputs.js';

/** Turns whatever config the caller or AutoConfig produced into a validated SegGPTConfig. */
export async function resolveSegGPTConfig(pretrained_model_name_or_path: string, options: PretrainedModelOptions): Promise<SegGPTConfig> {
  let given: unknown = options.config;
  if (!given) {
    try {
      given = await AutoConfig.from_pretrained(pretrained_model_name_or_path, options);
    } catch (error) {
      throw describeLoadFailure(error, { id: pretrained_model_name_or_path, revision: options.revision, local_files_only: options.local_files_only, file: 'config.json' });
    }
  }
  return given instanceof SegGPTConfig ? given : new SegGPTConfig(given, `${pretrained_model_name_or_path}/config.json`);
}

/**
 * Base class of the SegGPT models: one ONNX session (`onnx/model.onnx`, `model_fp16.onnx`, … chosen by `dtype`),
 * loaded with every Transformers.js option (dtype, device, session_options, progress_callback, revision, …).
 */
export class SegGPTPreTrainedModel extends PreTrainedModel {
  declare config: SegGPTConfig;
  /** The type token used when the call does not name one; null for classes where the caller must not choose. */
  protected readonly default_embedding_type: SegGPTEmbeddingType = 'instance';
  /** Set by the semantic/instance classes: the type token is part of the class. */
  protected readonly fixed_embedding_type: SegGPTEmbeddingType | null = null;
  /** Outputs this class returns. */
  protected readonly output_names: readonly string[] = ['pred_masks'];

  constructor(config: SegGPTConfig, sessions: Record<string, unknown>, configs: Record<string, unknown> = {}) {
    super(config, sessions, configs);
    this.main_input_name = 'pixel_values';
    this.forward_params = [...SEGGPT_INPUT_NAMES];
  }

  /**
   * Loads config.json (validated as a SegGPTConfig) and the ONNX session from a local folder or hub repo id.
   * @param pretrained_model_name_or_path A converted SegGPT repo (config.json, preprocessor_config.json, onnx/), or a
   *   Hugging Face SegGPT checkpoint (config.json, preprocessor_config.json, model.safetensors) such as
   *   `BAAI/seggpt-vit-large`, whose `dtype` variant is converted on first use and cached.
   * @param options Transformers.js model options (dtype, device, session_options, progress_callback, revision,
   *   cache_dir, local_files_only, …) and `signal`, which cancels a first-use conversion.
   */
  static override async from_pretrained<T extends typeof SegGPTPreTrainedModel>(
    this: T,
    pretrained_model_name_or_path: string,
    options: SegGPTPretrainedOptions = {},
  ): Promise<InstanceType<T>> {
    const config = await resolveSegGPTConfig(pretrained_model_name_or_path, options);
    const { sessions, configs } = await loadSegGPTSessions(pretrained_model_name_or_path, options, config);
    return new this(config, sessions, configs) as InstanceType<T>;
  }

  /** `model(inputs, options)`: see {@link SegGPTPreTrainedModel.forward}. */
  override async _call(model_inputs: SegGPTModelInputs, options: SegGPTForwardOptions = {}): Promise<Record<string, Tensor>> {
    return this.forward(model_inputs, options);
  }

  /**
   * Runs the model. `embedding_type` / `feature_ensemble` may come in `options` (HF keyword arguments) or inside
   * `model_inputs`; `options` wins.
   */
  override async forward(model_inputs: SegGPTModelInputs, options: SegGPTForwardOptions = {}): Promise<Record<string, Tensor>> {
    const { tensors } = checkImageTensors(model_inputs, this.config);
    if (options === null || typeof options !== 'object') {
      throw new InputError('SegGPT: the second argument must be an options object { embedding_type?, feature_ensemble? }');
    }
    const embeddingType = this.get_embedding_type(options.embedding_type ?? model_inputs.embedding_type);
    const featureEnsemble = checkFeatureEnsemble(options.feature_ensemble ?? model_inputs.feature_ensemble) ?? false;
    if (featureEnsemble && !supportsFeatureEnsemble(this.config)) {
      const rows = this.config.image_size[0] / this.config.patch_size;
      throw new InputError(
        `SegGPT: feature_ensemble needs an even number of patch rows, but this checkpoint has ${rows} ` +
          `(image_size[0] ${this.config.image_size[0]} / patch_size ${this.config.patch_size}); ` +
          'the reference fails here too. Call without feature_ensemble, one prompt at a time',
      );
    }
    const feeds = buildFeeds(sessionInputNames(this), tensors, embeddingType, featureEnsemble);
    return runSegGPTSession(this, feeds, this.output_names);
  }

  /**
   * The type token a call with `embedding_type = requested` uses: the class's fixed one, else the request, else the
   * default ('instance', as in HF). Throws InputError for unknown values or a conflict with a fixed type.
   */
  get_embedding_type(requested?: unknown): SegGPTEmbeddingType {
    const value = checkEmbeddingType(requested);
    const fixed = this.fixed_embedding_type;
    if (fixed !== null && value !== null && value !== fixed) {
      throw new InputError(
        `SegGPT: ${this.constructor.name} always uses embedding_type '${fixed}' (got '${value}'); use SegGPTForImageSegmentation to choose per call`,
      );
    }
    return fixed ?? value ?? this.default_embedding_type;
  }
}

/**
 * The SegGPT encoder (HF `SegGptModel`): returns `{ last_hidden_state }`, float32
 * [batch, 2h/patch, w/patch, hidden_size] (the merged prompt-over-query patch grid after the last layer).
 *
 * **Example:** Encode a query image with one prompt.
 * ```javascript
 * import { SegGPTModel, SegGPTImageProcessor } from 'transformers-seggpt';
 *
 * const processor = await SegGPTImageProcessor.from_pretrained('./seggpt-vit-large-onnx');
 * const model = await SegGPTModel.from_pretrained('./seggpt-vit-large-onnx');
 * const inputs = await processor('query.jpg', { prompt_images: 'prompt.jpg', prompt_masks: 'prompt_mask.png' });
 * const { last_hidden_state } = await model(inputs, { embedding_type: 'semantic' });
 * console.log(last_hidden_state.dims); // [ 1, 56, 28, 1024 ]
 * ```
 */
export class SegGPTModel extends SegGPTPreTrainedModel {
  protected override readonly output_names: readonly string[] = ['last_hidden_state'];
}

/**
 * SegGPT with its mask decoder (HF `SegGptForImageSegmentation`): returns `{ pred_masks }`, float32
 * [batch, 3, 2h, w]: the top half repaints the prompt mask, the bottom half is the predicted mask of the query.
 * `embedding_type` defaults to 'instance' (as in HF); `feature_ensemble` defaults to false.
 *
 * **Example:** Segment a query image from one example, then map colours back to class ids.
 * ```javascript
 * import { SegGPTForImageSegmentation, SegGPTImageProcessor } from 'transformers-seggpt';
 *
 * const processor = await SegGPTImageProcessor.from_pretrained('./seggpt-vit-large-onnx');
 * const model = await SegGPTForImageSegmentation.from_pretrained('./seggpt-vit-large-onnx', { dtype: 'fp32' });
 * const inputs = await processor('query.jpg', { prompt_images: 'prompt.jpg', prompt_masks: 'prompt_classes.png', num_labels: 1 }); // class ids 0/1
 * const outputs = await model(inputs, { embedding_type: 'semantic' });
 * console.log(outputs.pred_masks.dims); // [ 1, 3, 896, 448 ]
 * const [{ labels }] = processor.post_process_semantic_segmentation(outputs, inputs.original_sizes, 1);
 * console.log(labels); // e.g. [ 0, 1 ]
 * ```
 */
export class SegGPTForImageSegmentation extends SegGPTPreTrainedModel {}

/** SegGPTForImageSegmentation that always adds the semantic type token (one colour per class). */
export class SegGPTForSemanticSegmentation extends SegGPTForImageSegmentation {
  protected override readonly fixed_embedding_type: SegGPTEmbeddingType | null = 'semantic';
}

/** SegGPTForImageSegmentation that always adds the instance type token (one colour per object instance). */
export class SegGPTForInstanceSegmentation extends SegGPTForImageSegmentation {
  protected override readonly fixed_embedding_type: SegGPTEmbeddingType | null = 'instance';
}

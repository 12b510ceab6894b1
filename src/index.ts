/**
 * transformers-seggpt: SegGPT for Transformers.js. Importing this module registers SegGPT with Transformers.js'
 * Auto classes (see registerSegGPT); `pipeline` is Transformers.js' factory plus SegGPT.
 */
import { registerSegGPT } from './register.js';

export { SegGPTError, SegGPTConfigError, CheckpointError, InputError, BackendError, HubError } from './errors.js';

export {
  SegGPTConfig,
  SEGGPT_CONFIG_DEFAULTS,
  parseSegGPTConfig,
  segGPTConfigToJSON,
  type SegGPTActivation,
  type SegGPTConfigFields,
} from './configs/seggpt_config.js';
export {
  SEGGPT_PREPROCESSOR_DEFAULTS,
  parseSegGPTPreprocessorConfig,
  type SegGPTPreprocessorConfigFields,
} from './configs/seggpt_preprocessor_config.js';

export {
  SegGPTImageProcessor,
  type SegGPTImageProcessorCallOptions,
  type SegGPTImageProcessorResult,
} from './processors/image_processing_seggpt.js';
export { SegGPTProcessor } from './processors/processing_seggpt.js';
export type { SegGPTImageInput, SegGPTImageInputs } from './processors/image_inputs.js';
export type { SegGPTSemanticSegmentation, TargetSize } from './processors/seggpt_postprocess.js';
export type { SegGPTLabelMap } from './processors/seggpt_label_maps.js';
export { get_palette, type RGB } from './processors/seggpt_palette.js';

export {
  SegGPTPreTrainedModel,
  SegGPTModel,
  SegGPTForImageSegmentation,
  SegGPTForSemanticSegmentation,
  SegGPTForInstanceSegmentation,
  SEGGPT_EMBEDDING_TYPES,
  type SegGPTEmbeddingType,
  type SegGPTForwardOptions,
  type SegGPTModelInputs,
} from './models/modeling_seggpt.js';

export {
  SegGPTImageSegmentationPipeline,
  type SegGPTImageSegmentationPipelineArgs,
  type SegGPTPropagationOptions,
  type SegGPTSegment,
  type SegGPTSegmentationOptions,
  type SegGPTSegmentationResult,
} from './pipelines/image_segmentation_seggpt.js';
export {
  SegGPTSegmenter,
  DEFAULT_MEMORY,
  DEFAULT_THRESHOLD,
  type SegGPTPrediction,
  type SegGPTPropagateOptions,
  type SegGPTSegmentOptions,
} from './segmentation/segmenter.js';
export type { SegGPTWarningHandler } from './utils/warnings.js';
export { pipeline, loadSegGPTPipeline, SEGGPT_DEFAULT_MODEL, setDefaultSegGPTModel, type SegGPTModelName } from './pipelines/pipeline.js';

export { registerSegGPT, isSegGPTRegistered, SEGGPT_MODEL_TYPE, SEGGPT_IMAGE_PROCESSOR_TYPE } from './register.js';

registerSegGPT();

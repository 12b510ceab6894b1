/**
 * `transformers-seggpt/conversion` in any JavaScript runtime (browsers, Web Workers, Deno, Node): a SegGPT checkpoint
 * (config.json, preprocessor_config.json, safetensors) → ONNX files, read from byte sources (Blob, HTTP Range, memory)
 * and produced as streams of chunks. Node adds file-system adapters, `convertCheckpoint` and hub publishing
 * (index.node.ts, picked by the package's "node" export condition).
 */
export { bytesSource, blobSource, memoryCheckpointFiles, type ByteSource, type CheckpointFiles } from './byte_source.js';
export { openHttpSource, urlCheckpointFiles, type HttpSourceOptions, type FetchLike } from './http_source.js';
export {
  prepareCheckpoint,
  serializeVariant,
  convertedConfigJSON,
  planVariant,
  EXTERNAL_DATA_THRESHOLD_BYTES,
  PRODUCER,
  PRODUCER_VERSION,
  type PreparedCheckpoint,
  type PrepareOptions,
  type SerializedVariant,
  type PlannedVariant,
} from './checkpoint.js';
export { serializeModel, type SerializedFile, type ModelMeta } from './onnx/serialize.js';
export { SUPPORTED_DTYPES, resolveVariants, type Variant } from './variants.js';
export { ATTENTION_FORMS, buildSegGPTGraph, DEFAULT_ATTENTION, GRAPH_INPUTS, GRAPH_OUTPUTS, OPSET, type AttentionForm, type GraphOptions } from './seggpt_graph.js';
export { openCheckpointWeights, SafetensorsFile, type CheckpointWeights, type TensorInfo } from './safetensors.js';
export { expectedTensors, checkCheckpointTensors } from './checkpoint_layout.js';
export { fillSynthetic, syntheticSafetensors, syntheticConfigFiles } from './synthetic.js';

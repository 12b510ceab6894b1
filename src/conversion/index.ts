/** `transformers-seggpt/conversion`: checkpoint → ONNX, synthetic checkpoints, hub download and publish. */
export { convertCheckpoint, type ConvertOptions, type ConvertProgress, type ConvertResult } from './convert.js';
export { SUPPORTED_DTYPES, resolveVariants, type Variant } from './variants.js';
export { buildSegGPTGraph, GRAPH_INPUTS, GRAPH_OUTPUTS, OPSET } from './seggpt_graph.js';
export { openCheckpointWeights, SafetensorsFile, type CheckpointWeights, type TensorInfo } from './safetensors.js';
export { expectedTensors, checkCheckpointTensors } from './checkpoint_layout.js';
export { writeSyntheticCheckpoint, fillSynthetic } from './synthetic.js';
export * from './hub/index.js';

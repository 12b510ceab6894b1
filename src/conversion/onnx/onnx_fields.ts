/**
 * Field numbers of the ONNX protobuf messages the writer emits (onnx/onnx.proto3, ONNX 1.10+ / IR version 8).
 * Named here once so the encoder reads like the schema.
 */
export const IR_VERSION = 8;

export const ModelProto = { ir_version: 1, producer_name: 2, producer_version: 3, doc_string: 6, graph: 7, opset_import: 8, metadata_props: 14 } as const;
export const OperatorSetIdProto = { domain: 1, version: 2 } as const;
export const StringStringEntryProto = { key: 1, value: 2 } as const;
export const GraphProto = { node: 1, name: 2, initializer: 5, input: 11, output: 12 } as const;
export const NodeProto = { input: 1, output: 2, name: 3, op_type: 4, attribute: 5, domain: 7 } as const;
export const AttributeProto = { name: 1, f: 2, i: 3, s: 4, t: 5, floats: 7, ints: 8, type: 20 } as const;
/** AttributeProto.AttributeType */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;
export const TensorProto = { dims: 1, data_type: 2, name: 8, raw_data: 9, external_data: 13, data_location: 14 } as const;
/** TensorProto.DataLocation */
export const DataLocation = { EXTERNAL: 1 } as const;
export const ValueInfoProto = { name: 1, type: 2 } as const;
export const TypeProto = { tensor_type: 1 } as const;
export const TypeProtoTensor = { elem_type: 1, shape: 2 } as const;
export const TensorShapeProto = { dim: 1 } as const;
export const TensorShapeDimension = { dim_value: 1, dim_param: 2 } as const;

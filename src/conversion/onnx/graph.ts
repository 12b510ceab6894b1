/**
 * An ONNX graph under construction: inputs, outputs, nodes and initializers, with the naming
 * helpers that keep value names tied to the module they come from (`encoder.layers.3.mlp.lin1`).
 */
import {
  AttributeProto,
  AttributeType,
  DataLocation,
  GraphProto,
  IR_VERSION,
  ModelProto,
  NodeProto,
  OperatorSetIdProto,
  StringStringEntryProto,
  TensorProto,
  TensorShapeDimension,
  TensorShapeProto,
  TypeProto,
  TypeProtoTensor,
  ValueInfoProto,
} from './onnx_fields.js';
import { ProtoMessage, type DeferredBytes } from './proto.js';

/** ONNX TensorProto.DataType values used here. */
export enum DataType {
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  INT32 = 6,
  INT64 = 7,
  BOOL = 9,
  FLOAT16 = 10,
  UINT4 = 21,
  INT4 = 22,
}

export const BYTES_PER_ELEMENT: Record<DataType, number> = {
  [DataType.FLOAT]: 4,
  [DataType.UINT8]: 1,
  [DataType.INT8]: 1,
  [DataType.INT32]: 4,
  [DataType.INT64]: 8,
  [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2,
  [DataType.UINT4]: 0.5,
  [DataType.INT4]: 0.5,
};

export type Dim = number | string;

export type AttributeValue =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'tensor'; value: ConstantTensor };

/** Plain JS values are mapped to attributes: integers → int, other numbers → float, arrays → ints. */
export type Attrs = Record<string, number | string | number[] | AttributeValue>;

export interface ConstantTensor {
  dataType: DataType;
  dims: number[];
  data: Uint8Array;
}

export interface Initializer {
  name: string;
  dataType: DataType;
  dims: number[];
  byteLength: number;
  /** Produces the bytes on demand (little-endian, row-major). Called once, while writing. */
  produce: () => Promise<Uint8Array>;
  /** The checkpoint tensors `produce` reads, so a reader can fetch them ahead in the order they will be asked for. */
  sources?: readonly string[];
}

interface ValueInfo {
  name: string;
  elemType: DataType;
  dims: Dim[];
}

interface NodeSpec {
  opType: string;
  domain: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Attrs;
}

export function byteLengthOf(dataType: DataType, dims: number[]): number {
  return Math.ceil(dims.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dataType]);
}

export function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

export class Graph {
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly nodes: NodeSpec[] = [];
  readonly initializers: Initializer[] = [];
  readonly opsetImports = new Map<string, number>();
  /** What the conversion had to change on the way (values clamped to fp16's range, …), one line each. */
  readonly warnings: string[] = [];
  private readonly usedNames = new Set<string>();
  private readonly constantCache = new Map<string, string>();

  constructor(readonly name: string, opset: number) {
    this.opsetImports.set('', opset);
  }

  /** Returns `base` or `base_1`, `base_2`, … so every value name is unique. */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  input(name: string, elemType: DataType, dims: Dim[]): string {
    this.usedNames.add(name);
    this.inputs.push({ name, elemType, dims });
    return name;
  }

  output(value: string, name: string, elemType: DataType, dims: Dim[]): void {
    const out = this.node('Identity', [value], {}, { name });
    this.outputs.push({ name: out, elemType, dims });
  }

  initializer(name: string, dataType: DataType, dims: number[], produce: () => Promise<Uint8Array>, sources?: readonly string[]): string {
    const unique = this.uniqueName(name);
    this.initializers.push({ name: unique, dataType, dims, byteLength: byteLengthOf(dataType, dims), produce, ...(sources && { sources }) });
    return unique;
  }

  /** A small tensor known at build time. Identical small constants are shared. */
  constant(name: string, dataType: DataType, dims: number[], data: ArrayBufferView): string {
    const bytes = bytesOf(data);
    if (bytes.length !== byteLengthOf(dataType, dims)) {
      throw new Error(`constant ${name}: ${bytes.length} bytes for dims [${dims}]`);
    }
    const key = bytes.length <= 64 ? `${dataType}|${dims}|${bytes.join(',')}` : undefined;
    const cached = key && this.constantCache.get(key);
    if (cached) return cached;
    const copy = bytes.slice();
    const value = this.initializer(name, dataType, dims, async () => copy);
    if (key) this.constantCache.set(key, value);
    return value;
  }

  int64s(name: string, values: number[]): string {
    return this.constant(name, DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  scalarFloat(name: string, value: number): string {
    return this.constant(name, DataType.FLOAT, [], Float32Array.of(value));
  }

  /**
   * Adds a node and returns its output name(s). `name` is the value name of the (first) output;
   * other outputs get `name:1`, `name:2`, ….
   */
  node(opType: string, inputs: string[], attrs: Attrs = {}, options: { name?: string; outputs?: number; domain?: string } = {}): string {
    return this.nodeMulti(opType, inputs, attrs, { ...options, outputs: 1 })[0];
  }

  nodeMulti(
    opType: string,
    inputs: string[],
    attrs: Attrs = {},
    options: { name?: string; outputs?: number; domain?: string } = {},
  ): string[] {
    const base = this.uniqueName(options.name ?? opType);
    const count = options.outputs ?? 1;
    const outputs = [base];
    for (let i = 1; i < count; i++) outputs.push(this.uniqueName(`${base}:${i}`));
    const domain = options.domain ?? '';
    if (domain && !this.opsetImports.has(domain)) this.opsetImports.set(domain, 1);
    this.nodes.push({ opType, domain, name: base, inputs, outputs, attrs });
    return outputs;
  }

  /** Serialises the graph into an ONNX ModelProto, its initializers in `order` (default: as created). */
  toModelProto(
    meta: { producer: string; version: string; docString?: string; metadata?: Record<string, string> },
    externalize?: ExternalPlacement,
    order: readonly Initializer[] = this.initializers,
  ): ProtoMessage {
    const graph = new ProtoMessage();
    for (const n of this.nodes) graph.message(GraphProto.node, encodeNode(n));
    graph.string(GraphProto.name, this.name);
    for (const init of order) graph.message(GraphProto.initializer, encodeInitializer(init, externalize?.get(init.name)));
    for (const v of this.inputs) graph.message(GraphProto.input, encodeValueInfo(v));
    for (const v of this.outputs) graph.message(GraphProto.output, encodeValueInfo(v));

    const model = new ProtoMessage();
    model.varint(ModelProto.ir_version, IR_VERSION); // ONNX 1.10+, understood by every onnxruntime since 1.10
    model.string(ModelProto.producer_name, meta.producer);
    model.string(ModelProto.producer_version, meta.version);
    if (meta.docString) model.string(ModelProto.doc_string, meta.docString);
    model.message(ModelProto.graph, graph);
    for (const [domain, version] of this.opsetImports) {
      const opset = new ProtoMessage();
      opset.string(OperatorSetIdProto.domain, domain);
      opset.varint(OperatorSetIdProto.version, version);
      model.message(ModelProto.opset_import, opset);
    }
    for (const [key, value] of Object.entries(meta.metadata ?? {})) {
      const entry = new ProtoMessage();
      entry.string(StringStringEntryProto.key, key);
      entry.string(StringStringEntryProto.value, value);
      model.message(ModelProto.metadata_props, entry);
    }
    return model;
  }
}

/** Where each externalised initializer lives in the external data file. */
export type ExternalPlacement = Map<string, { location: string; offset: number; length: number }>;

function encodeNode(n: NodeSpec): ProtoMessage {
  const m = new ProtoMessage();
  for (const i of n.inputs) m.string(NodeProto.input, i);
  for (const o of n.outputs) m.string(NodeProto.output, o);
  m.string(NodeProto.name, n.name);
  m.string(NodeProto.op_type, n.opType);
  for (const [name, value] of Object.entries(n.attrs)) m.message(NodeProto.attribute, encodeAttribute(name, value));
  if (n.domain) m.string(NodeProto.domain, n.domain);
  return m;
}

function encodeAttribute(name: string, raw: Attrs[string]): ProtoMessage {
  const value: AttributeValue =
    typeof raw === 'object' && !Array.isArray(raw)
      ? raw
      : typeof raw === 'string'
        ? { type: 'string', value: raw }
        : Array.isArray(raw)
          ? { type: 'ints', value: raw }
          : Number.isInteger(raw)
            ? { type: 'int', value: raw }
            : { type: 'float', value: raw };
  const m = new ProtoMessage();
  const A = AttributeProto;
  m.string(A.name, name);
  switch (value.type) {
    case 'float':
      m.float32(A.f, value.value).varint(A.type, AttributeType.FLOAT);
      break;
    case 'int':
      m.varint(A.i, value.value).varint(A.type, AttributeType.INT);
      break;
    case 'string':
      m.string(A.s, value.value).varint(A.type, AttributeType.STRING);
      break;
    case 'tensor':
      m.message(A.t, encodeTensor(value.value)).varint(A.type, AttributeType.TENSOR);
      break;
    case 'floats':
      m.packedFloats(A.floats, value.value).varint(A.type, AttributeType.FLOATS);
      break;
    case 'ints':
      m.packedVarints(A.ints, value.value).varint(A.type, AttributeType.INTS);
      break;
  }
  return m;
}

function encodeTensor(t: ConstantTensor): ProtoMessage {
  const m = new ProtoMessage();
  if (t.dims.length) m.packedVarints(TensorProto.dims, t.dims);
  m.varint(TensorProto.data_type, t.dataType);
  m.bytes(TensorProto.raw_data, t.data);
  return m;
}

function encodeInitializer(init: Initializer, external?: { location: string; offset: number; length: number }): ProtoMessage {
  const m = new ProtoMessage();
  if (init.dims.length) m.packedVarints(TensorProto.dims, init.dims);
  m.varint(TensorProto.data_type, init.dataType);
  m.string(TensorProto.name, init.name);
  if (external) {
    for (const [key, value] of [
      ['location', external.location],
      ['offset', String(external.offset)],
      ['length', String(external.length)],
    ]) {
      const entry = new ProtoMessage();
      entry.string(StringStringEntryProto.key, key);
      entry.string(StringStringEntryProto.value, value);
      m.message(TensorProto.external_data, entry);
    }
    m.varint(TensorProto.data_location, DataLocation.EXTERNAL);
  } else {
    const deferred: DeferredBytes = { length: init.byteLength, produce: init.produce };
    m.deferred(TensorProto.raw_data, deferred);
  }
  return m;
}

function encodeValueInfo(v: ValueInfo): ProtoMessage {
  const shape = new ProtoMessage();
  for (const d of v.dims) {
    const dim = new ProtoMessage();
    if (typeof d === 'number') dim.varint(TensorShapeDimension.dim_value, d);
    else dim.string(TensorShapeDimension.dim_param, d);
    shape.message(TensorShapeProto.dim, dim);
  }
  const tensorType = new ProtoMessage();
  tensorType.varint(TypeProtoTensor.elem_type, v.elemType);
  tensorType.message(TypeProtoTensor.shape, shape);
  const type = new ProtoMessage();
  type.message(TypeProto.tensor_type, tensorType);
  const m = new ProtoMessage();
  m.string(ValueInfoProto.name, v.name);
  m.message(ValueInfoProto.type, type);
  return m;
}

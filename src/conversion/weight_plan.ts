/**
 * How weights and numerically sensitive ops are emitted for one precision variant.
 * The model builder asks the plan for every Linear, Conv, LayerNorm, Softmax and float constant,
 * so a variant (fp16, 8-bit, 4-bit) changes only this layer, never the module tree.
 *
 * Choices per variant (see README "Precision variants"):
 * - fp16 / q4f16: fp16 activations and weights; LayerNorm, the attention scores with their
 *   relative-position sums, softmax and GELU run in fp32 (casts around them), where fp16's range
 *   and precision would bite.
 * - q8 / uint8 / int8: Linear layers as DynamicQuantizeLinear → MatMulInteger → scale (the
 *   pattern onnxruntime fuses into DynamicQuantizeMatMul on CPU/WASM), per-output-channel weights.
 * - q4 / q4f16: Linear layers as com.microsoft MatMulNBits (4-bit blocks of 32), which CPU, WASM,
 *   WebGPU and CUDA run natively.
 * Graph inputs and outputs are float32 in every variant.
 */
import { bytesOf, DataType, type Graph } from './onnx/graph.js';
import { toFloat16Array, toFloat16Bits } from './float16.js';
import { add, layerNorm, matmul } from './onnx/ops.js';
import { quantizeBlockwise4, quantizePerChannel8, sharedParts, TRANSPOSE_TILE } from './quantize.js';

export interface NormParams {
  weight: string;
  bias: string;
}

export interface WeightPlan {
  /** Transformers.js dtype name of the variant: fp32, fp16, q8, … */
  readonly dtype: string;
  /** Element type of the activations between ops. */
  readonly activationType: DataType;
  toActivation(g: Graph, x: string, name: string): string;
  toFloat32(g: Graph, x: string, name: string): string;
  scalar(g: Graph, name: string, value: number): string;
  /** A float constant computed at build time, stored in the activation type. */
  constant(g: Graph, name: string, dims: number[], data: Float32Array): string;
  normParams(g: Graph, prefix: string, weights: WeightReader, size: number): NormParams;
  /** LayerNorm of an activation-typed tensor (computed in fp32). */
  layerNorm(g: Graph, x: string, params: NormParams, epsilon: number, name: string): string;
  /** Softmax over the last axis of a float32 tensor, returned in the activation type. */
  softmax(g: Graph, x: string, name: string): string;
  /** Runs an elementwise fp32-sensitive function (GELU) and returns the activation type. */
  inFloat32(g: Graph, x: string, name: string, f: (x32: string) => string): string;
  /**
   * y = x·Wᵀ + b for a checkpoint Linear (weight [out, in]) or a 1×1 Conv ([out, in, 1, 1]). `keepFloat`: never
   * quantised; `outputOrder`: output feature k is the checkpoint's output row outputOrder[k].
   */
  linear(g: Graph, x: string, prefix: string, weights: WeightReader, inFeatures: number, outFeatures: number, hasBias: boolean, options?: LinearOptions): string;
  conv(g: Graph, x: string, prefix: string, weights: WeightReader, dims: number[], attrs: { kernel_shape: number[]; pads: number[] }): string;
}

export type LinearKind = 'float' | 'int8' | 'uint8' | 'q4';

export interface LinearOptions {
  keepFloat?: boolean;
  outputOrder?: Int32Array;
}

export interface PlanSpec {
  dtype: string;
  activations: 'fp32' | 'fp16';
  linear: LinearKind;
}


/** What the graph builder and the weight plans need from a checkpoint: float32 tensors by name. */
export interface WeightReader {
  readFloat32(name: string): Promise<Float32Array>;
}

/** MatMulNBits block size: 32 keeps 4-bit error low at ~5 bits per weight all told. */
export const Q4_BLOCK_SIZE = 32;

/** [out, in] row-major → [in, out] row-major; with `rows`, output column o is checkpoint row rows[o]. */
export function transposed(w: Float32Array, out: number, inFeatures: number, rows?: Int32Array): Float32Array {
  const t = new Float32Array(out * inFeatures);
  const start = new Int32Array(out);
  for (let o = 0; o < out; o++) start[o] = (rows ? rows[o] : o) * inFeatures;
  for (let o0 = 0; o0 < out; o0 += TRANSPOSE_TILE) {
    const o1 = Math.min(o0 + TRANSPOSE_TILE, out);
    for (let i0 = 0; i0 < inFeatures; i0 += TRANSPOSE_TILE) {
      const i1 = Math.min(i0 + TRANSPOSE_TILE, inFeatures);
      for (let i = i0; i < i1; i++) {
        const column = i * out;
        for (let o = o0; o < o1; o++) t[column + o] = w[start[o] + i];
      }
    }
  }
  return t;
}

/** The rows of a [rows.length, width] matrix (or a vector, width 1) in the order `rows` lists them. */
export function gatherRows(a: Float32Array, rows: Int32Array, width = 1): Float32Array {
  const out = new Float32Array(rows.length * width);
  for (let r = 0; r < rows.length; r++) out.set(a.subarray(rows[r] * width, (rows[r] + 1) * width), r * width);
  return out;
}

/** float32 → float16, recording on the graph how many values had to be clamped to fp16's ±65504. */
function toHalf(g: Graph, what: string, values: Float32Array): Uint16Array {
  const stats = { clamped: 0 };
  const bits = toFloat16Array(values, stats);
  if (stats.clamped) g.warnings.push(`${what}: ${stats.clamped} of ${values.length} value(s) beyond fp16's range clamped to ±65504`);
  return bits;
}

export function makePlan(spec: PlanSpec): WeightPlan {
  const half = spec.activations === 'fp16';
  const actType = half ? DataType.FLOAT16 : DataType.FLOAT;
  const cast = (g: Graph, x: string, to: DataType, name: string) => g.node('Cast', [x], { to }, { name });
  /** A float initializer made from checkpoint tensor `source`. */
  const floatTensor = (g: Graph, name: string, dims: number[], source: string, load: () => Promise<Float32Array>) =>
    half
      ? g.initializer(name, DataType.FLOAT16, dims, async () => bytesOf(toHalf(g, source, await load())), [source])
      : g.initializer(name, DataType.FLOAT, dims, async () => bytesOf(await load()), [source]);

  const plan: WeightPlan = {
    dtype: spec.dtype,
    activationType: actType,
    toActivation: (g, x, name) => (half ? cast(g, x, DataType.FLOAT16, name) : x),
    toFloat32: (g, x, name) => (half ? cast(g, x, DataType.FLOAT, name) : x),
    scalar: (g, name, value) => (half ? g.constant(name, DataType.FLOAT16, [], Uint16Array.of(toFloat16Bits(value))) : g.scalarFloat(name, value)),
    constant: (g, name, dims, data) => (half ? g.constant(name, DataType.FLOAT16, dims, toHalf(g, name, data)) : g.constant(name, DataType.FLOAT, dims, data)),
    normParams(g, prefix, weights, size) {
      const param = (n: string) =>
        g.initializer(`${prefix}.${n}`, DataType.FLOAT, [size], async () => bytesOf(await weights.readFloat32(`${prefix}.${n}`)), [`${prefix}.${n}`]);
      return { weight: param('weight'), bias: param('bias') };
    },
    layerNorm(g, x, p, eps, name) {
      if (!half) return layerNorm(g, x, p.weight, p.bias, eps, name);
      const normed = layerNorm(g, cast(g, x, DataType.FLOAT, `${name}.to_fp32`), p.weight, p.bias, eps, `${name}.fp32`);
      return cast(g, normed, DataType.FLOAT16, name);
    },
    softmax(g, x, name) {
      const probs = g.node('Softmax', [x], { axis: -1 }, { name: half ? `${name}.fp32` : name });
      return half ? cast(g, probs, DataType.FLOAT16, name) : probs;
    },
    inFloat32(g, x, name, f) {
      if (!half) return f(x);
      return cast(g, f(cast(g, x, DataType.FLOAT, `${name}.to_fp32`)), DataType.FLOAT16, name);
    },
    linear(g, x, prefix, weights, inFeatures, outFeatures, hasBias, options) {
      const read = () => weights.readFloat32(`${prefix}.weight`);
      const kind = options?.keepFloat ? 'float' : spec.linear;
      const order = options?.outputOrder;
      let y: string;
      if (kind === 'float') {
        const w = floatTensor(g, `${prefix}.weight`, [inFeatures, outFeatures], `${prefix}.weight`, async () => transposed(await read(), outFeatures, inFeatures, order));
        y = matmul(g, x, w, `${prefix}.matmul`);
      } else if (kind === 'q4') {
        y = matMulNBits(g, x, prefix, read, inFeatures, outFeatures, half, order);
      } else {
        y = matMulInteger(g, x, prefix, read, inFeatures, outFeatures, kind, order);
      }
      if (!hasBias) return y;
      const readBias = async () => {
        const bias = await weights.readFloat32(`${prefix}.bias`);
        return order ? gatherRows(bias, order) : bias;
      };
      return add(g, y, floatTensor(g, `${prefix}.bias`, [outFeatures], `${prefix}.bias`, readBias), prefix);
    },
    conv(g, x, prefix, weights, dims, attrs) {
      const w = floatTensor(g, `${prefix}.weight`, dims, `${prefix}.weight`, () => weights.readFloat32(`${prefix}.weight`));
      const b = floatTensor(g, `${prefix}.bias`, [dims[0]], `${prefix}.bias`, () => weights.readFloat32(`${prefix}.bias`));
      return g.node('Conv', [x, w, b], attrs, { name: prefix });
    },
  };
  return plan;
}

function matMulInteger(g: Graph, x: string, prefix: string, read: () => Promise<Float32Array>, inFeatures: number, outFeatures: number, kind: 'int8' | 'uint8', order?: Int32Array): string {
  const parts = sharedParts(kind === 'uint8' ? 3 : 2, async () => {
    const q = quantizePerChannel8(await read(), outFeatures, inFeatures, kind, order);
    return q.zeroPoints ? [bytesOf(q.data), bytesOf(q.scales), q.zeroPoints] : [bytesOf(q.data), bytesOf(q.scales)];
  });
  const wType = kind === 'int8' ? DataType.INT8 : DataType.UINT8;
  const source = [`${prefix}.weight`];
  const w = g.initializer(`${prefix}.weight_quantized`, wType, [inFeatures, outFeatures], parts[0], source);
  const scales = g.initializer(`${prefix}.weight_scale`, DataType.FLOAT, [outFeatures], parts[1], source);
  const [xq, xScale, xZero] = g.nodeMulti('DynamicQuantizeLinear', [x], {}, { name: `${prefix}.input_quantized`, outputs: 3 });
  const inputs = [xq, w, xZero];
  // int8 weights are symmetric: MatMulInteger's missing zero point means 0.
  if (kind === 'uint8') inputs.push(g.initializer(`${prefix}.weight_zero_point`, DataType.UINT8, [outFeatures], parts[2], source));
  const acc = g.node('MatMulInteger', inputs, {}, { name: `${prefix}.matmul_integer` });
  const accFloat = g.node('Cast', [acc], { to: DataType.FLOAT }, { name: `${prefix}.matmul_integer.float` });
  const scale = g.node('Mul', [xScale, scales], {}, { name: `${prefix}.scale` });
  return g.node('Mul', [accFloat, scale], {}, { name: `${prefix}.matmul` });
}

function matMulNBits(g: Graph, x: string, prefix: string, read: () => Promise<Float32Array>, inFeatures: number, outFeatures: number, half: boolean, order?: Int32Array): string {
  const blocks = Math.ceil(inFeatures / Q4_BLOCK_SIZE);
  const parts = sharedParts(3, async () => {
    const q = quantizeBlockwise4(await read(), outFeatures, inFeatures, Q4_BLOCK_SIZE, order);
    return [q.packed, half ? bytesOf(toHalf(g, `${prefix}.weight (scales)`, q.scales)) : bytesOf(q.scales), q.zeroPoints];
  });
  const source = [`${prefix}.weight`];
  const packed = g.initializer(`${prefix}.weight_q4`, DataType.UINT8, [outFeatures, blocks, Q4_BLOCK_SIZE / 2], parts[0], source);
  const scales = g.initializer(`${prefix}.weight_scales`, half ? DataType.FLOAT16 : DataType.FLOAT, [outFeatures * blocks], parts[1], source);
  const zeros = g.initializer(`${prefix}.weight_zero_points`, DataType.UINT8, [outFeatures * Math.ceil(blocks / 2)], parts[2], source);
  return g.node(
    'MatMulNBits',
    [x, packed, scales, zeros],
    { K: inFeatures, N: outFeatures, bits: 4, block_size: Q4_BLOCK_SIZE },
    { name: `${prefix}.matmul`, domain: 'com.microsoft' },
  );
}

export const fp32Plan = makePlan({ dtype: 'fp32', activations: 'fp32', linear: 'float' });

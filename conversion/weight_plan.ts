/**
 * How weights and numerically sensitive ops are emitted for one precision variant.
 * The model builder asks the plan for every Linear, Conv, LayerNorm, Softmax and float constant,
 * so a variant (fp16, 8-bit, 4-bit) changes only this layer, never the module tree.
 */
import { DataType, type Graph } from './onnx/graph.js';
import { layerNorm, matmul, add } from './onnx/ops.js';
import type { WeightReader } from './seggpt_graph.js';

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
  layerNorm(g: Graph, x: string, params: NormParams, epsilon: number, name: string): string;
  softmax(g: Graph, x: string, name: string): string;
  /** y = x·Wᵀ + b for a checkpoint Linear (weight [out, in]) or a 1×1 Conv ([out, in, 1, 1]). */
  linear(g: Graph, x: string, prefix: string, weights: WeightReader, inFeatures: number, outFeatures: number, hasBias: boolean, options?: { conv1x1?: boolean }): string;
  conv(g: Graph, x: string, prefix: string, weights: WeightReader, dims: number[], attrs: { kernel_shape: number[]; pads: number[] }): string;
}

export function asBytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** [out, in] row-major → [in, out] row-major. */
export function transposed(w: Float32Array, out: number, inFeatures: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++) {
    const row = o * inFeatures;
    for (let i = 0; i < inFeatures; i++) t[i * out + o] = w[row + i];
  }
  return t;
}

export const fp32Plan: WeightPlan = {
  dtype: 'fp32',
  activationType: DataType.FLOAT,
  toActivation: (_g, x) => x,
  toFloat32: (_g, x) => x,
  scalar: (g, name, value) => g.scalarFloat(name, value),
  constant: (g, name, dims, data) => g.constant(name, DataType.FLOAT, dims, data),
  normParams(g, prefix, weights, size) {
    const param = (n: string) => g.initializer(`${prefix}.${n}`, DataType.FLOAT, [size], async () => asBytes(await weights.readFloat32(`${prefix}.${n}`)));
    return { weight: param('weight'), bias: param('bias') };
  },
  layerNorm: (g, x, p, eps, name) => layerNorm(g, x, p.weight, p.bias, eps, name),
  softmax: (g, x, name) => g.node('Softmax', [x], { axis: -1 }, { name }),
  linear(g, x, prefix, weights, inFeatures, outFeatures, hasBias) {
    const w = g.initializer(`${prefix}.weight`, DataType.FLOAT, [inFeatures, outFeatures], async () =>
      asBytes(transposed(await weights.readFloat32(`${prefix}.weight`), outFeatures, inFeatures)),
    );
    const y = matmul(g, x, w, `${prefix}.matmul`);
    if (!hasBias) return y;
    const b = g.initializer(`${prefix}.bias`, DataType.FLOAT, [outFeatures], async () => asBytes(await weights.readFloat32(`${prefix}.bias`)));
    return add(g, y, b, prefix);
  },
  conv(g, x, prefix, weights, dims, attrs) {
    const w = g.initializer(`${prefix}.weight`, DataType.FLOAT, dims, async () => asBytes(await weights.readFloat32(`${prefix}.weight`)));
    const b = g.initializer(`${prefix}.bias`, DataType.FLOAT, [dims[0]], async () => asBytes(await weights.readFloat32(`${prefix}.bias`)));
    return g.node('Conv', [x, w, b], attrs, { name: prefix });
  },
};

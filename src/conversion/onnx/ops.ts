/** Small emitters for common ONNX patterns, so the model builder reads like the module tree. */
import type { Graph } from './graph.js';

export function reshape(g: Graph, x: string, shape: number[], name: string): string {
  return g.node('Reshape', [x, g.int64s(`${name}.shape`, shape)], {}, { name });
}

export function transpose(g: Graph, x: string, perm: number[], name: string): string {
  return g.node('Transpose', [x], { perm }, { name });
}

export function add(g: Graph, a: string, b: string, name: string): string {
  return g.node('Add', [a, b], {}, { name });
}

export function mul(g: Graph, a: string, b: string, name: string): string {
  return g.node('Mul', [a, b], {}, { name });
}

export function matmul(g: Graph, a: string, b: string, name: string): string {
  return g.node('MatMul', [a, b], {}, { name });
}

/** Slice along one axis, [start, end). */
export function slice(g: Graph, x: string, axis: number, start: number, end: number, name: string): string {
  return g.node(
    'Slice',
    [x, g.int64s(`${name}.starts`, [start]), g.int64s(`${name}.ends`, [end]), g.int64s(`${name}.axes`, [axis])],
    {},
    { name },
  );
}

export function concat(g: Graph, xs: string[], axis: number, name: string): string {
  return g.node('Concat', xs, { axis }, { name });
}

/** LayerNormalization over the last axis (opset 17), which onnxruntime runs as one fused kernel. */
export function layerNorm(g: Graph, x: string, weight: string, bias: string, epsilon: number, name: string): string {
  return g.node('LayerNormalization', [x, weight, bias], { axis: -1, epsilon: { type: 'float', value: epsilon } }, { name });
}

/**
 * Activation functions of the reference's ACT2FN on float32 tensors (every variant runs them in
 * float32), written in plain ONNX ops in the shapes onnxruntime's graph optimiser fuses
 * (Gelu / FastGelu / QuickGelu) on CPU, WebGPU and CUDA.
 */
export function activation(g: Graph, x: string, kind: string, name: string): string {
  const c = (label: string, v: number) => g.scalarFloat(`${name}.${label}`, v);
  switch (kind) {
    case 'gelu': {
      // 0.5·x·(1 + erf(x/√2))
      const erf = g.node('Erf', [g.node('Div', [x, c('sqrt2', Math.SQRT2)], {}, { name: `${name}.div` })], {}, { name: `${name}.erf` });
      const onePlus = g.node('Add', [erf, c('one', 1)], {}, { name: `${name}.add` });
      return g.node('Mul', [g.node('Mul', [x, onePlus], {}, { name: `${name}.mul` }), c('half', 0.5)], {}, { name });
    }
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast': {
      // 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
      const x3 = g.node('Mul', [g.node('Mul', [x, x], {}, { name: `${name}.x2` }), x], {}, { name: `${name}.x3` });
      const inner = g.node('Add', [x, g.node('Mul', [x3, c('k', 0.044715)], {}, { name: `${name}.kx3` })], {}, { name: `${name}.inner` });
      const t = g.node('Tanh', [g.node('Mul', [inner, c('s', Math.sqrt(2 / Math.PI))], {}, { name: `${name}.scaled` })], {}, { name: `${name}.tanh` });
      const onePlus = g.node('Add', [t, c('one', 1)], {}, { name: `${name}.add` });
      return g.node('Mul', [g.node('Mul', [x, onePlus], {}, { name: `${name}.mul` }), c('half', 0.5)], {}, { name });
    }
    case 'quick_gelu':
      return g.node('Mul', [x, g.node('Sigmoid', [g.node('Mul', [x, c('k', 1.702)], {}, { name: `${name}.scaled` })], {}, { name: `${name}.sigmoid` })], {}, { name });
    case 'relu':
      return g.node('Relu', [x], {}, { name });
    case 'silu':
    case 'swish':
      return g.node('Mul', [x, g.node('Sigmoid', [x], {}, { name: `${name}.sigmoid` })], {}, { name });
    default:
      throw new Error(`activation ${kind} is not supported`);
  }
}

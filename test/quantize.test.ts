import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, test } from 'vitest';
import { DataType, Graph } from '../src/conversion/onnx/graph.js';
import { writeModel } from '../src/conversion/node/files.js';
import { quantizeBlockwise4, quantizePerChannel8 } from '../src/conversion/quantize.js';
import { makePlan, type LinearKind } from '../src/conversion/weight_plan.js';

const work = mkdtempSync(join(tmpdir(), 'seggpt-quant-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Deterministic pseudo-random values in [-1, 1). */
function values(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** Runs the plan's Linear layer (weight [out, in] as in a checkpoint) on x [rows, in]. */
async function runLinear(kind: LinearKind, weight: Float32Array, bias: Float32Array, x: Float32Array, rows: number, inF: number, outF: number, activations: 'fp32' | 'fp16' = 'fp32') {
  const plan = makePlan({ dtype: kind, activations, linear: kind });
  const g = new Graph('linear', 17);
  const input = g.input('x', DataType.FLOAT, [rows, inF]);
  const reader = { readFloat32: async (name: string) => (name.endsWith('.weight') ? weight : bias) };
  const y = plan.linear(g, plan.toActivation(g, input, 'x.cast'), 'layer', reader, inF, outF, true);
  g.output(plan.toFloat32(g, y, 'y.cast'), 'y', DataType.FLOAT, [rows, outF]);
  const path = join(work, `${kind}-${activations}-${inF}x${outF}.onnx`);
  await writeModel(g, path, { producer: 'test', version: '0' }, false);
  const session = await ort.InferenceSession.create(path);
  const out = await session.run({ x: new ort.Tensor('float32', x, [rows, inF]) });
  await session.release();
  return out.y.data as Float32Array;
}

function matmulRef(x: Float32Array, w: (n: number, k: number) => number, bias: Float32Array, rows: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < outF; n++) {
      let acc = bias[n];
      for (let k = 0; k < inF; k++) acc += x[r * inF + k] * w(n, k);
      y[r * outF + n] = acc;
    }
  }
  return y;
}

function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    max = Math.max(max, Math.abs(a[i] - b[i]));
  }
  return max / scale;
}

describe('4-bit blocks (MatMulNBits)', () => {
  // 72 input features: two full blocks of 32 and a ragged one of 8.
  const [rows, inF, outF] = [5, 72, 40];
  const weight = values(outF * inF, 1);
  const bias = values(outF, 2);
  const x = values(rows * inF, 3);
  const q = quantizeBlockwise4(weight, outF, inF, 32);
  const dequantized = (n: number, k: number) => {
    const b = Math.floor(k / 32);
    const byte = q.packed[(n * q.blocks + b) * 16 + ((k % 32) >> 1)];
    const value = k % 2 ? byte >> 4 : byte & 15;
    const zpByte = q.zeroPoints[n * Math.ceil(q.blocks / 2) + (b >> 1)];
    const zp = b % 2 ? zpByte >> 4 : zpByte & 15;
    return (value - zp) * q.scales[n * q.blocks + b];
  };

  test('dequantised weights stay within half a step of the originals', () => {
    let worst = 0;
    for (let n = 0; n < outF; n++) {
      for (let k = 0; k < inF; k++) {
        const step = q.scales[n * q.blocks + Math.floor(k / 32)];
        worst = Math.max(worst, Math.abs(dequantized(n, k) - weight[n * inF + k]) / step);
      }
    }
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-6);
  });

  test('onnxruntime computes x · dequant(W)ᵀ + b with the packed layout', async () => {
    const y = await runLinear('q4', weight, bias, x, rows, inF, outF);
    expect(maxRelative(y, matmulRef(x, dequantized, bias, rows, inF, outF))).toBeLessThan(1e-5);
  });

  test('fp16 activations (q4f16) agree within fp16 precision', async () => {
    const y = await runLinear('q4', weight, bias, x, rows, inF, outF, 'fp16');
    expect(maxRelative(y, matmulRef(x, dequantized, bias, rows, inF, outF))).toBeLessThan(5e-3);
  });
});

describe('8-bit per-channel weights with dynamic activations (MatMulInteger)', () => {
  const [rows, inF, outF] = [4, 48, 24];
  const weight = values(outF * inF, 4);
  const bias = values(outF, 5);
  const x = values(rows * inF, 6);

  /** DynamicQuantizeLinear as the ONNX spec defines it: uint8, range widened to include 0. */
  function dynamicQuantize(a: Float32Array) {
    let lo = 0;
    let hi = 0;
    for (const v of a) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const scale = Math.fround((hi - lo) / 255);
    const zp = Math.min(255, Math.max(0, Math.round(-lo / scale)));
    const roundHalfEven = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
    return { q: a.map((v) => Math.min(255, Math.max(0, roundHalfEven(v / scale) + zp))), scale, zp };
  }

  for (const kind of ['int8', 'uint8'] as const) {
    test(`${kind}: onnxruntime equals the integer computation`, async () => {
      const qw = quantizePerChannel8(weight, outF, inF, kind);
      const qx = dynamicQuantize(x);
      const expected = new Float64Array(rows * outF);
      for (let r = 0; r < rows; r++) {
        for (let n = 0; n < outF; n++) {
          let acc = 0;
          for (let k = 0; k < inF; k++) acc += (qx.q[r * inF + k] - qx.zp) * (qw.data[k * outF + n] - (qw.zeroPoints?.[n] ?? 0));
          expected[r * outF + n] = acc * Math.fround(qx.scale * qw.scales[n]) + bias[n];
        }
      }
      const y = await runLinear(kind, weight, bias, x, rows, inF, outF);
      expect(maxRelative(y, expected)).toBeLessThan(1e-5);
      // and the quantised layer stays close to the float one
      const float = matmulRef(x, (n, k) => weight[n * inF + k], bias, rows, inF, outF);
      expect(maxRelative(y, float)).toBeLessThan(0.02);
    });
  }
});

describe('the quantisers equal their plain definitions (Math.round, per element)', () => {
  // Weights chosen so that w / scale lands on halves, just below and just above them (where a fast rounding can
  // slip), plus random values and a ragged last 4-bit block (inFeatures = 77).
  function adversarial(out: number, inF: number): Float32Array {
    const w = values(out * inF, 7);
    for (let n = 0; n < out; n++) {
      w[n * inF] = 1; // fixes the row's range so the scale is known: 1/127 (int8)
      for (let k = 1; k < Math.min(inF, 40); k++) {
        const half = (k % 20) - 10 + 0.5;
        const x = (half / 127) * (k % 3 === 0 ? 1 : k % 3 === 1 ? 1 + 2 ** -23 : 1 - 2 ** -23);
        w[n * inF + k] = x;
      }
    }
    return w;
  }
  const clampTo = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));

  test('int8 and uint8 per channel', () => {
    const out = 70;
    const inF = 77;
    const w = adversarial(out, inF);
    for (const kind of ['int8', 'uint8'] as const) {
      const q = quantizePerChannel8(w, out, inF, kind);
      for (let n = 0; n < out; n++) {
        let lo = 0;
        let hi = 0;
        for (let k = 0; k < inF; k++) {
          lo = Math.min(lo, w[n * inF + k]);
          hi = Math.max(hi, w[n * inF + k]);
        }
        const scale = kind === 'int8' ? Math.max(-lo, hi) / 127 || 1 : (hi - lo) / 255 || 1;
        const zp = kind === 'int8' ? 0 : clampTo(Math.round(-lo / Math.fround(scale)), 0, 255);
        const [min, max] = kind === 'int8' ? [-127, 127] : [0, 255];
        for (let k = 0; k < inF; k++) {
          // | 0: a typed array stores -0 as 0.
          const expected = clampTo(Math.round(w[n * inF + k] * (1 / Math.fround(scale))) + zp, min, max) | 0;
          expect(q.data[k * out + n], `${kind} [${n}, ${k}]`).toBe(expected);
        }
      }
    }
  });

  test('4-bit blocks', () => {
    const out = 9;
    const inF = 77;
    const w = adversarial(out, inF);
    const block = 32;
    const q = quantizeBlockwise4(w, out, inF, block);
    for (let n = 0; n < out; n++) {
      for (let b = 0; b < q.blocks; b++) {
        let lo = 0;
        let hi = 0;
        for (let k = b * block; k < Math.min(inF, (b + 1) * block); k++) {
          lo = Math.min(lo, w[n * inF + k]);
          hi = Math.max(hi, w[n * inF + k]);
        }
        const scale = Math.fround((hi - lo) / 15) || 1;
        const zp = clampTo(Math.round(-lo / scale), 0, 15);
        for (let j = 0; j < block; j++) {
          const k = b * block + j;
          const expected = k < inF ? clampTo(Math.round(w[n * inF + k] / scale) + zp, 0, 15) : zp;
          const byte = q.packed[(n * q.blocks + b) * (block / 2) + (j >> 1)];
          expect(j & 1 ? byte >> 4 : byte & 15, `[${n}, ${k}]`).toBe(expected | 0);
        }
      }
    }
  });
});

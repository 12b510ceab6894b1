/**
 * Worker: the machine's practical GEMM rate in onnxruntime-node — one large MatMul (A input × B constant, like a
 * Linear layer whose weight onnxruntime pre-packs), timed after a warm-up. `int8`: the q8 variant's own pattern
 * (DynamicQuantizeLinear → MatMulInteger with int8 weights → scale, which onnxruntime fuses into
 * DynamicQuantizeMatMul, U8S8), so its rate is the roof of q8's Linear layers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, Graph, bytesOf } from '../../src/conversion/onnx/graph.js';
import { writeModel } from '../../src/conversion/node/files.js';
import { sessionOptions } from '../session.js';
import { median } from '../stats.js';
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';

export interface RooflineArgs {
  m: number;
  k: number;
  n: number;
  runs: number;
  kind?: 'fp32' | 'int8';
}

export interface RooflineMeasurement {
  kind: 'fp32' | 'int8';
  shape: [number, number, number];
  run_seconds: number[];
  /** GFLOP/s of the fastest run: the roof the model is held against. */
  best_gflops: number;
  median_gflops: number;
}

/** Deterministic values in [-1, 1): the numbers do not matter, only that they are not denormal or zero. */
function filled(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let x = seed >>> 0;
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = (x >>> 8) / 8388608 - 1;
  }
  return out;
}

runWorkerMain(async () => {
  const { m, k, n, runs, kind = 'fp32' } = workerArgs<RooflineArgs>();
  const dir = mkdtempSync(join(tmpdir(), 'seggpt-roofline-'));
  try {
    const g = new Graph('roofline', 17);
    const a = g.input('a', DataType.FLOAT, [m, k]);
    const weight = filled(k * n, 7);
    if (kind === 'int8') {
      const q = Int8Array.from(weight, (v) => Math.round(v * 127));
      const b = g.initializer('b', DataType.INT8, [k, n], async () => bytesOf(q));
      const scales = g.initializer('b_scale', DataType.FLOAT, [n], async () => bytesOf(new Float32Array(n).fill(1 / 127)));
      const [aq, aScale, aZero] = g.nodeMulti('DynamicQuantizeLinear', [a], {}, { name: 'a_quantized', outputs: 3 });
      const acc = g.node('Cast', [g.node('MatMulInteger', [aq, b, aZero], {}, { name: 'y_int' })], { to: DataType.FLOAT }, { name: 'y_float' });
      g.output(g.node('Mul', [acc, g.node('Mul', [aScale, scales], {}, { name: 'scale' })], {}, { name: 'y' }), 'out', DataType.FLOAT, [m, n]);
    } else {
      const b = g.initializer('b', DataType.FLOAT, [k, n], async () => bytesOf(weight));
      g.output(g.node('MatMul', [a, b], {}, { name: 'y' }), 'out', DataType.FLOAT, [m, n]);
    }
    const path = join(dir, 'matmul.onnx');
    await writeModel(g, path, { producer: 'transformers-seggpt-bench', version: '0' }, false);

    const session = await ort.InferenceSession.create(path, sessionOptions());
    const feeds = { a: new ort.Tensor('float32', filled(m * k, 3), [m, k]) };
    const run_seconds: number[] = [];
    for (let i = 0; i <= runs; i++) {
      const started = performance.now();
      const out = await session.run(feeds);
      const seconds = (performance.now() - started) / 1000;
      out.out.dispose();
      if (i > 0) run_seconds.push(seconds); // run 0 is the warm-up
    }
    await session.release();
    const flops = 2 * m * k * n;
    emitResult({
      kind,
      shape: [m, k, n],
      run_seconds,
      best_gflops: flops / Math.min(...run_seconds) / 1e9,
      median_gflops: flops / median(run_seconds) / 1e9,
    } satisfies RooflineMeasurement);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

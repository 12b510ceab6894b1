/**
 * One row of `bench/gpu/run.sh`, in its own Node process (a crash of the GPU driver or an out-of-memory kill stays
 * inside the row): loads a converted variant through the project's model class (`SegGPTForImageSegmentation`,
 * Transformers.js' own session creation), runs the saved inputs once (the first run: shader compilation, weight
 * upload), then `runs` more times, and writes the last pred_masks as float32 .npy for the parity step.
 *
 * With `placement`, it loads the model a second time with onnxruntime's verbose log on (no run) so that the parent can
 * read onnxruntime's "Node placements" lines from stderr: which execution provider got the graph's nodes.
 */
import type { Tensor } from '@huggingface/transformers';

import { SegGPTForImageSegmentation } from '../../src/index.node.js';
import { sessionOptions } from '../session.js';
import { median } from '../stats.js';
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';
import { readInputs } from './inputs.js';
import { writeNpy } from './npy_write.js';

export interface RowArgs {
  model_dir: string;
  device: 'cpu' | 'webgpu';
  dtype: string;
  /** Folder with pixel_values.npy, prompt_pixel_values.npy, prompt_masks.npy and inputs.json. */
  inputs_dir: string;
  runs: number;
  /** Where to write pred_masks (float32 .npy). */
  pred_path: string;
  placement: boolean;
}

export interface RowMeasurement {
  create_seconds: number;
  first_seconds: number;
  run_seconds: number[];
  best_seconds: number;
  median_seconds: number;
  /** The ONNX output's element type before the float32 copy (float16 for fp16 graphs with fp16 outputs). */
  output_type: string;
  dims: number[];
}

function toFloat32(t: Tensor): Float32Array {
  if (t.type === 'float32') return t.data as Float32Array;
  return (t as unknown as { to(type: string): Tensor }).to('float32').data as Float32Array;
}

runWorkerMain(async () => {
  const args = workerArgs<RowArgs>();
  const { inputs, kwargs } = readInputs(args.inputs_dir);
  // CPU: the bench's session options (every core, sequential, memory pattern off). WebGPU: the library's defaults.
  const session_options = args.device === 'cpu' ? sessionOptions() : undefined;
  const load = (extra?: object) =>
    SegGPTForImageSegmentation.from_pretrained(args.model_dir, {
      device: args.device,
      dtype: args.dtype as 'fp32',
      local_files_only: true,
      session_options: { ...session_options, ...extra },
    });

  let started = performance.now();
  const model = await load();
  const create_seconds = (performance.now() - started) / 1000;

  const run = async () => {
    started = performance.now();
    const out = await model(inputs, kwargs);
    return { pred: out.pred_masks, seconds: (performance.now() - started) / 1000 };
  };
  const first = await run();
  let pred = first.pred;
  const run_seconds: number[] = [];
  for (let i = 0; i < args.runs; i++) {
    const r = await run();
    run_seconds.push(r.seconds);
    pred = r.pred;
  }
  const data = toFloat32(pred);
  writeNpy(args.pred_path, data, pred.dims);
  const result: RowMeasurement = {
    create_seconds,
    first_seconds: first.seconds,
    run_seconds,
    best_seconds: run_seconds.length ? Math.min(...run_seconds) : first.seconds,
    median_seconds: run_seconds.length ? median(run_seconds) : first.seconds,
    output_type: pred.type,
    dims: [...pred.dims],
  };
  await model.dispose();

  if (args.placement) {
    // onnxruntime prints "Node placements" at verbose level while it creates the session.
    process.stderr.write('PLACEMENT_BEGIN\n');
    const probe = await load({ logSeverityLevel: 0, logVerbosityLevel: 0 });
    await probe.dispose();
    process.stderr.write('PLACEMENT_END\n');
  }
  emitResult(result);
});

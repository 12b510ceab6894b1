/**
 * Worker: creates an onnxruntime-node session for one model file, runs one fixture case (warm-up, then timed
 * runs) and compares pred_masks with the reference and, optionally, with the fp32 ONNX result. Optionally
 * dumps the optimised graph and a profile of one extra run.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readNpy } from '../../dev/npy.js';
import { compareMasks, type MaskComparison } from '../masks.js';
import { benchThreads, modelBytes, sessionOptions } from '../session.js';
import { median } from '../stats.js';
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';

export interface InferArgs {
  model: string;
  case_dir: string;
  kwargs: { embedding_type?: string; feature_ensemble?: boolean };
  warmups: number;
  runs: number;
  image_mean: number[];
  image_std: number[];
  /** Write this run's pred_masks (raw float32) here. */
  save_pred?: string;
  /** Compare with pred_masks saved by an earlier (fp32) run. */
  fp32_pred?: string;
  /** Dump the optimised graph here (weights to `<path>.data`). */
  optimized_model_path?: string;
  /** Profile one extra run; the JSON trace goes to `<prefix>_<date>.json`. */
  profile_prefix?: string;
  /** Session options merged over the bench defaults (e.g. { enableCpuMemArena: false }) for experiments. */
  session_overrides?: ort.InferenceSession.SessionOptions;
}

export interface InferMeasurement {
  file_bytes: number;
  create_seconds: number;
  warmup_seconds: number[];
  run_seconds: number[];
  median_seconds: number;
  best_seconds: number;
  /**
   * CPU time this process got during the timed runs ÷ (wall time × threads). Near 1 on an idle machine
   * (onnxruntime's threads spin); clearly lower means other processes took the cores and the times are inflated.
   */
  cpu_share: number;
  vs_reference: MaskComparison;
  vs_fp32?: MaskComparison;
  profile_file?: string;
}

/** The processor arrays stored with a fixture case and its model kwargs, as feeds. */
function caseFeeds(dir: string, kwargs: InferArgs['kwargs']): ort.InferenceSession.FeedsType {
  const image = (file: string) => {
    const a = readNpy(join(dir, file));
    return new ort.Tensor('float32', a.data as Float32Array, a.shape);
  };
  return {
    pixel_values: image('pixel_values.npy'),
    prompt_pixel_values: image('prompt_pixel_values.npy'),
    prompt_masks: image('prompt_masks.npy'),
    // HF's default (embedding_type None) is instance: 1.
    embedding_type: new ort.Tensor('int64', BigInt64Array.of(kwargs.embedding_type === 'semantic' ? 0n : 1n), [1]),
    feature_ensemble: new ort.Tensor('bool', Uint8Array.of(kwargs.feature_ensemble ? 1 : 0), [1]),
  };
}

runWorkerMain(async () => {
  const args = workerArgs<InferArgs>();
  const feeds = caseFeeds(args.case_dir, args.kwargs);

  let started = performance.now();
  const session = await ort.InferenceSession.create(args.model, {
    ...sessionOptions({ optimizedModelPath: args.optimized_model_path }),
    ...args.session_overrides,
  });
  const create_seconds = (performance.now() - started) / 1000;

  const timeRun = async () => {
    started = performance.now();
    const out = await session.run(feeds);
    const seconds = (performance.now() - started) / 1000;
    return { out, seconds };
  };
  const warmup_seconds: number[] = [];
  const run_seconds: number[] = [];
  let pred: ort.Tensor | undefined;
  let cpuStart = process.cpuUsage();
  let wallStart = performance.now();
  for (let i = 0; i < args.warmups + args.runs; i++) {
    if (i === args.warmups) {
      cpuStart = process.cpuUsage();
      wallStart = performance.now();
    }
    const { out, seconds } = await timeRun();
    (i < args.warmups ? warmup_seconds : run_seconds).push(seconds);
    pred?.dispose();
    pred = out.pred_masks;
    for (const [name, tensor] of Object.entries(out)) if (name !== 'pred_masks') tensor.dispose();
  }
  if (!pred) throw new Error('no run was made: pass runs ≥ 1');
  const cpu = process.cpuUsage(cpuStart);
  const cpu_share = (cpu.user + cpu.system) / 1e6 / (((performance.now() - wallStart) / 1000) * benchThreads());
  const predData = pred.data as Float32Array;
  const dims = pred.dims;

  const reference = readNpy(join(args.case_dir, 'pred_masks.npy')).data as Float32Array;
  const vs_reference = compareMasks(predData, reference, dims, args.image_mean, args.image_std);
  let vs_fp32: MaskComparison | undefined;
  if (args.fp32_pred) {
    const bytes = readFileSync(args.fp32_pred);
    const fp32 = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    vs_fp32 = compareMasks(predData, fp32, dims, args.image_mean, args.image_std);
  }
  if (args.save_pred) writeFileSync(args.save_pred, new Uint8Array(predData.buffer, predData.byteOffset, predData.byteLength));
  pred.dispose();
  await session.release();

  let profile_file: string | undefined;
  if (args.profile_prefix) {
    // A separate session, so profiling overhead never touches the timed runs.
    const profiled = await ort.InferenceSession.create(args.model, { ...sessionOptions({ profilePrefix: args.profile_prefix }), ...args.session_overrides });
    const out = await profiled.run(feeds);
    for (const tensor of Object.values(out)) tensor.dispose();
    profiled.endProfiling();
    await profiled.release();
    profile_file = args.profile_prefix;
  }

  emitResult({
    file_bytes: modelBytes(args.model),
    create_seconds,
    warmup_seconds,
    run_seconds,
    median_seconds: median(run_seconds),
    best_seconds: Math.min(...run_seconds),
    cpu_share,
    vs_reference,
    vs_fp32,
    profile_file,
  } satisfies InferMeasurement);
});

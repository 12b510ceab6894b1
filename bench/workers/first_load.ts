/**
 * Worker: loads a SegGPT model by hub id (a first load converts it; a later one reads the cache) and reports the
 * time, what the progress events say about the checkpoint read and the converted file, and peak RSS.
 */
import { env } from '@huggingface/transformers';
import { SegGPTForImageSegmentation } from '../../src/index.node.js';
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';

export interface FirstLoadArgs {
  remoteHost: string;
  cacheDir: string;
  id: string;
  dtype: string;
}

export interface FirstLoadMeasurement {
  seconds: number;
  /** Bytes of model.safetensors the load read (0 when it came from the cache). */
  weights_bytes: number;
  /** Seconds from the start to the last byte of the converted .onnx file (null when nothing was converted). */
  converted_at: number | null;
}

runWorkerMain(async () => {
  const { remoteHost, cacheDir, id, dtype } = workerArgs<FirstLoadArgs>();
  env.remoteHost = remoteHost;
  env.cacheDir = cacheDir;
  let weights = 0;
  let convertedAt: number | null = null;
  const started = performance.now();
  const model = await SegGPTForImageSegmentation.from_pretrained(id, {
    dtype: dtype as 'fp32',
    progress_callback: (e: { status: string; file?: string; loaded?: number; total?: number }) => {
      if (e.status !== 'progress') return;
      if (e.file === 'model.safetensors') weights = e.loaded ?? weights;
      else if (e.file?.endsWith('.onnx') && e.loaded === e.total) convertedAt = (performance.now() - started) / 1000;
    },
  });
  const seconds = (performance.now() - started) / 1000;
  await model.dispose();
  emitResult({ seconds, weights_bytes: weights, converted_at: weights > 0 ? convertedAt : null } satisfies FirstLoadMeasurement);
});

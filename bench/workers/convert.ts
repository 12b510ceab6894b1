/** Worker: converts a checkpoint to one or more dtypes and reports the time. */
import { convertCheckpoint } from '../../src/conversion/node/convert.js';
import type { AttentionForm } from '../../src/conversion/seggpt_graph.js';
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';

export interface ConvertArgs {
  checkpoint: string;
  output: string;
  dtypes: string;
  attention?: AttentionForm;
}

export interface ConvertMeasurement {
  seconds: number;
  files: { dtype: string; file: string; bytes: number }[];
}

runWorkerMain(async () => {
  const { checkpoint, output, dtypes, attention } = workerArgs<ConvertArgs>();
  const started = performance.now();
  const result = await convertCheckpoint({ checkpoint, output, dtypes, attention, overwrite: true });
  const seconds = (performance.now() - started) / 1000;
  emitResult({ seconds, files: result.variants.map(({ dtype, file, bytes }) => ({ dtype, file, bytes })) } satisfies ConvertMeasurement);
});

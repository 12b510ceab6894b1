/** Worker: converts a checkpoint to one or more dtypes and reports the time. */
import { convertCheckpoint } from '../../src/conversion/node/convert.js';
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';

export interface ConvertArgs {
  checkpoint: string;
  output: string;
  dtypes: string;
}

export interface ConvertMeasurement {
  seconds: number;
  files: { dtype: string; file: string; bytes: number }[];
}

runWorkerMain(async () => {
  const { checkpoint, output, dtypes } = workerArgs<ConvertArgs>();
  const started = performance.now();
  const result = await convertCheckpoint({ checkpoint, output, dtypes, overwrite: true });
  const seconds = (performance.now() - started) / 1000;
  emitResult({ seconds, files: result.variants.map(({ dtype, file, bytes }) => ({ dtype, file, bytes })) } satisfies ConvertMeasurement);
});

import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';

/** Thread count for every benchmark session: one intra-op thread per core. */
export function benchThreads(): number {
  return availableParallelism();
}

/**
 * The session options of every measurement: all cores for intra-op parallelism, one inter-op thread (branches
 * run in turn, which keeps memory down), full graph optimisation, and the memory pattern off as the library's
 * models default to (src/models/seggpt_session.ts), so the numbers are what a user of the package gets.
 */
export function sessionOptions(extra: { optimizedModelPath?: string; profilePrefix?: string } = {}): InferenceSession.SessionOptions {
  const options: InferenceSession.SessionOptions = {
    intraOpNumThreads: benchThreads(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    enableMemPattern: false,
  };
  if (extra.optimizedModelPath) {
    options.optimizedModelFilePath = extra.optimizedModelPath;
    // Weights go to a side file: the dump stays small enough to scan for node types.
    options.extra = {
      session: {
        optimized_model_external_initializers_file_name: `${basename(extra.optimizedModelPath)}.data`,
        optimized_model_external_initializers_min_size_in_bytes: '1024',
      },
    };
  }
  if (extra.profilePrefix) {
    options.enableProfiling = true;
    options.profileFilePrefix = extra.profilePrefix;
  }
  return options;
}

/** Bytes of a model file plus its external data files (`<file>_data`, `<file>_data_1`, …). */
export function modelBytes(modelPath: string): number {
  const dir = dirname(modelPath);
  const file = basename(modelPath);
  return readdirSync(dir)
    .filter((name) => name === file || name.startsWith(`${file}_data`))
    .reduce((sum, name) => sum + statSync(join(dir, name)).size, 0);
}

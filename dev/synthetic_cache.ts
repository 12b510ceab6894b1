/**
 * A cache of synthetic-v1 checkpoints under os.tmpdir(), keyed by a hash of the config and processor config, so
 * the full-size test and the benchmark build the 1.48 GB ViT-L file once per machine.
 *
 * A checkpoint is built in a `.partial-<pid>-…` folder and renamed into place only when complete, so an
 * interrupted run never leaves a cache entry that looks usable. Partial folders of dead processes are removed.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeSyntheticCheckpoint } from '../src/conversion/node/synthetic.js';
import { expectedTensors } from '../src/conversion/checkpoint_layout.js';
import { parseSegGPTConfig } from '../src/configs/seggpt_config_fields.js';

const GENERATOR = 'synthetic-v1';

export function cacheRoot(): string {
  return process.env.SEGGPT_BENCH_CACHE ?? join(tmpdir(), 'transformers-seggpt-cache');
}

export interface SyntheticCheckpoint {
  folder: string;
  /** true when this call wrote it, false when an earlier complete build was reused. */
  built: boolean;
  /** Seconds spent building (0 when reused). */
  seconds: number;
}

/**
 * Returns a folder holding config.json, preprocessor_config.json and a synthetic-v1 model.safetensors for the
 * given fixture-style folder (its config.json + preprocessor_config.json), building it when not cached.
 */
export async function ensureSyntheticCheckpoint(
  sourceFolder: string,
  onProgress?: (done: number, total: number) => void,
): Promise<SyntheticCheckpoint> {
  const configText = readFileSync(join(sourceFolder, 'config.json'), 'utf8');
  const preprocessorText = readFileSync(join(sourceFolder, 'preprocessor_config.json'), 'utf8');
  const config = parseSegGPTConfig(JSON.parse(configText), join(sourceFolder, 'config.json'));
  const preprocessor: object = JSON.parse(preprocessorText);
  const key = createHash('sha256').update(GENERATOR).update('\0').update(configText).update('\0').update(preprocessorText).digest('hex').slice(0, 16);
  const root = cacheRoot();
  const folder = join(root, `${config.model_type}-${config.hidden_size}x${config.num_hidden_layers}-${key}`);
  const expectedBytes = safetensorsDataBytes(config);

  if (isComplete(folder, expectedBytes)) return { folder, built: false, seconds: 0 };
  await mkdir(root, { recursive: true });
  await removeDeadPartials(root);
  // A folder at the final path that is not complete cannot come from this module; replace it.
  await rm(folder, { recursive: true, force: true });

  const started = performance.now();
  const partial = await mkdtemp(join(root, `.partial-${process.pid}-`));
  try {
    await writeSyntheticCheckpoint(config, partial, { preprocessor, onProgress });
    try {
      await rename(partial, folder);
    } catch (error) {
      // Another process finished the same entry first: use theirs.
      if (!isComplete(folder, expectedBytes)) throw error;
      await rm(partial, { recursive: true, force: true });
    }
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  return { folder, built: true, seconds: (performance.now() - started) / 1000 };
}

/** Bytes of tensor data (without the safetensors header) the checkpoint must hold. */
function safetensorsDataBytes(config: ReturnType<typeof parseSegGPTConfig>): number {
  return expectedTensors(config).reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1) * 4, 0);
}

/** Complete = all three files, and model.safetensors exactly as long as its header says. */
function isComplete(folder: string, dataBytes: number): boolean {
  const weights = join(folder, 'model.safetensors');
  if (!existsSync(join(folder, 'config.json')) || !existsSync(join(folder, 'preprocessor_config.json')) || !existsSync(weights)) return false;
  const prefix = Buffer.alloc(8);
  const fd = openSync(weights, 'r');
  try {
    if (readSync(fd, prefix, 0, 8, 0) !== 8) return false;
  } finally {
    closeSync(fd);
  }
  return statSync(weights).size === 8 + Number(prefix.readBigUInt64LE()) + dataBytes;
}

async function removeDeadPartials(root: string): Promise<void> {
  for (const name of await readdir(root)) {
    const pid = /^\.partial-(\d+)-/.exec(name)?.[1];
    if (pid && !isAlive(Number(pid))) await rm(join(root, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * What `--model` means: a converted folder (has onnx/), a raw Hugging Face checkpoint folder
 * (converted once into a cache, then reused), the alias `seggpt`, or a hub repo id that
 * Transformers.js loads remotely. No value: the bundled seggpt-shapes demo model.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CheckpointError } from '../src/errors.js';
import { packageRoot } from './package_root.js';

/** The 4 M-parameter demo SegGPT that ships with the repo (a toy shapes task, not BAAI/seggpt-vit-large). */
export const BUNDLED_DEMO_MODEL = join(packageRoot(), 'models', 'seggpt-shapes');

export function converterCacheDir(): string {
  return process.env.SEGGPT_CACHE_DIR ?? join(homedir(), '.cache', 'transformers-seggpt');
}

export interface ModelSourceOptions {
  dtype?: string;
  onProgress?: (message: string) => void;
}

/** Returns what to hand to from_pretrained: an absolute folder or a hub id. */
export async function resolveModelSource(model: string | undefined, options: ModelSourceOptions = {}): Promise<string> {
  const target = model ?? BUNDLED_DEMO_MODEL;
  const folder = resolve(target);
  if (!existsSync(folder)) {
    if (model === undefined) throw new CheckpointError(`the bundled demo model is missing at ${folder}: reinstall transformers-seggpt or pass --model`);
    return target; // a hub id (or the 'seggpt' alias), resolved by the library
  }
  if (!statSync(folder).isDirectory()) throw new CheckpointError(`--model ${target} is a file: pass a model folder or a hub id`);
  if (existsSync(join(folder, 'onnx'))) return folder;
  if (existsSync(join(folder, 'model.safetensors')) || existsSync(join(folder, 'model.safetensors.index.json'))) {
    return convertedCopy(folder, options);
  }
  throw new CheckpointError(
    `--model ${target} is not a SegGPT model folder: expected onnx/ (converted by seggpt convert) or model.safetensors + config.json (a Hugging Face checkpoint)`,
  );
}

/** Converts a raw checkpoint once per content version into the cache and returns the converted folder. */
async function convertedCopy(folder: string, options: ModelSourceOptions): Promise<string> {
  const weights = join(folder, existsSync(join(folder, 'model.safetensors')) ? 'model.safetensors' : 'model.safetensors.index.json');
  const stat = statSync(weights);
  const configText = await readFile(join(folder, 'config.json'), 'utf8').catch(() => '');
  const dtypes = options.dtype && options.dtype !== 'fp32' ? `fp32,${options.dtype}` : 'fp32';
  const key = createHash('sha256').update(`${folder}\0${stat.size}\0${stat.mtimeMs}\0${configText}\0${dtypes}`).digest('hex').slice(0, 16);
  const output = join(converterCacheDir(), 'converted', `${folder.split(/[\\/]/).pop()}-${key}`);
  if (existsSync(join(output, 'config.json'))) return output;
  options.onProgress?.(`converting ${folder} to ONNX (first use; cached in ${output})`);
  const { convertCheckpoint } = await import('../src/conversion/node/convert.js');
  await convertCheckpoint({ checkpoint: folder, output, dtypes, overwrite: true });
  return output;
}

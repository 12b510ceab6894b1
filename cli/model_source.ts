/**
 * What `--model` means, and where the CLI's loads go: a folder (converted, or a Hugging Face checkpoint that the
 * library converts on first use), a hub id, or the alias `seggpt`; no value: the bundled seggpt-shapes demo model.
 * Hub ids are read from `--hub-url`, else `HF_ENDPOINT`, else huggingface.co; the cache is `--cache-dir`, else
 * `SEGGPT_CACHE_DIR`, else ~/.cache/transformers-seggpt.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { env } from '@huggingface/transformers';
import { CheckpointError, SEGGPT_DEMO_MODEL } from '../src/index.node.js';
import { resolveHubUrl } from '../src/conversion/hub/endpoint.js';

export function defaultCacheDir(): string {
  return process.env.SEGGPT_CACHE_DIR ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'transformers-seggpt');
}

/** Points Transformers.js at the hub and the cache the CLI uses. */
export function configureLoading(options: { hubUrl?: string; cacheDir?: string }): void {
  env.remoteHost = `${resolveHubUrl(options.hubUrl)}/`;
  env.cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
}

/** What to hand to from_pretrained: an absolute folder, a hub id or the alias. */
export function resolveModelSource(model: string | undefined): string {
  if (model === undefined) {
    if (!existsSync(SEGGPT_DEMO_MODEL)) throw new CheckpointError(`the bundled demo model is missing at ${SEGGPT_DEMO_MODEL}: reinstall transformers-seggpt or pass --model`);
    return SEGGPT_DEMO_MODEL;
  }
  const folder = resolve(model);
  if (!existsSync(folder)) return model; // a hub id (or the 'seggpt' alias)
  if (!statSync(folder).isDirectory()) throw new CheckpointError(`--model ${model} is a file: pass a model folder or a hub id`);
  if (!existsSync(join(folder, 'config.json'))) {
    throw new CheckpointError(
      `--model ${model} is not a SegGPT model folder: expected config.json with onnx/ (converted by seggpt convert) or model.safetensors (a Hugging Face checkpoint)`,
    );
  }
  return folder;
}

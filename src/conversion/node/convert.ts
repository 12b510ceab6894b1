/**
 * `seggpt convert`: a Hugging Face SegGPT checkpoint (folder or hub id) → a Transformers.js repo folder:
 *
 *   <out>/config.json               the checkpoint's config + a `transformers.js_config` block
 *   <out>/preprocessor_config.json
 *   <out>/onnx/model.onnx           (+ model.onnx_data when external data is used), model_fp16.onnx, …
 *
 * Everything is written into a temporary sibling folder that is renamed into place at the end,
 * so a failed conversion never leaves a half-written model behind.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { SegGPTConfigFields } from '../../configs/seggpt_config_fields.js';
import { CheckpointError, InputError } from '../../errors.js';
import { convertedConfigJSON, prepareCheckpoint, serializeVariant, type SerializedVariant } from '../checkpoint.js';
import { downloadCheckpoint } from '../hub/download.js';
import { resolveVariants } from '../variants.js';
import { folderCheckpointFiles, writeSerializedFiles } from './files.js';
import { createStaging, placeStaging } from './staging.js';

export { EXTERNAL_DATA_THRESHOLD_BYTES, PRODUCER, PRODUCER_VERSION } from '../checkpoint.js';

export type ConvertProgress =
  | { stage: 'download'; file: string; loaded: number; total?: number }
  | { stage: 'build'; dtype: string }
  | { stage: 'write'; dtype: string; file: string; bytes: number }
  | { stage: 'done'; output: string };

export interface ConvertOptions {
  /** A local checkpoint folder or a hub repo id (`BAAI/seggpt-vit-large`). */
  checkpoint: string;
  /** The folder to create. */
  output: string;
  /** Variants to write, e.g. ['fp32', 'fp16'] or 'fp32,q8' or 'all'. Default fp32. */
  dtypes?: string | readonly string[];
  /** Put weights in `<file>_data`: 'auto' (default) decides by size. */
  external_data?: 'auto' | boolean;
  /** Replace an existing output folder. */
  overwrite?: boolean;
  revision?: string;
  hub_url?: string;
  token?: string;
  cache_dir?: string;
  onProgress?: (event: ConvertProgress) => void;
}

export interface ConvertResult {
  output: string;
  config: SegGPTConfigFields;
  variants: { dtype: string; file: string; external_data: boolean; bytes: number }[];
  warnings: string[];
}

export async function convertCheckpoint(options: ConvertOptions): Promise<ConvertResult> {
  const variants = resolveVariants(options.dtypes);
  const output = resolve(options.output);
  if (existsSync(output) && !options.overwrite) {
    throw new InputError(`output folder ${output} already exists: choose another --output or pass --overwrite`);
  }
  const { folder: source, hubId } = await resolveCheckpoint(options);
  const { config, preprocessor, weights, warnings } = await prepareCheckpoint(folderCheckpointFiles(source));
  // Names the source model in the converted config (model cards use it as base_model).
  if (hubId) config._name_or_path = hubId;
  try {
    const staging = await createStaging(output);
    try {
      await mkdir(join(staging, 'onnx'));
      const written: ConvertResult['variants'] = [];
      for (const variant of variants) {
        options.onProgress?.({ stage: 'build', dtype: variant.dtype });
        const serialized: SerializedVariant = await serializeVariant(config, weights, variant, options.external_data ?? 'auto');
        await writeSerializedFiles(staging, serialized.files);
        options.onProgress?.({ stage: 'write', dtype: variant.dtype, file: `onnx/${variant.file}`, bytes: serialized.bytes });
        written.push({ dtype: serialized.dtype, file: serialized.file, external_data: serialized.external_data, bytes: serialized.bytes });
      }
      await writeFile(join(staging, 'config.json'), JSON.stringify(convertedConfigJSON(config, written), null, 2) + '\n');
      await writeFile(join(staging, 'preprocessor_config.json'), JSON.stringify(preprocessor, null, 2) + '\n');
      await placeStaging(staging, output, { replace: options.overwrite });
      options.onProgress?.({ stage: 'done', output });
      return { output, config, variants: written, warnings };
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  } finally {
    await weights.close();
  }
}

async function resolveCheckpoint(options: ConvertOptions): Promise<{ folder: string; hubId?: string }> {
  const candidate = resolve(options.checkpoint);
  if (existsSync(candidate)) {
    if (!statSync(candidate).isDirectory()) {
      throw new CheckpointError(`${candidate} is a file: pass the checkpoint folder that holds config.json and model.safetensors`);
    }
    return { folder: candidate };
  }
  if (!/^[\w.-]+(\/[\w.-]+)?$/.test(options.checkpoint)) {
    throw new CheckpointError(`${options.checkpoint} is neither a folder nor a hub repo id: pass a checkpoint folder or an id like BAAI/seggpt-vit-large`);
  }
  const folder = await downloadCheckpoint(options.checkpoint, {
    revision: options.revision,
    hubUrl: options.hub_url,
    token: options.token,
    cacheDir: options.cache_dir,
    onProgress: (e) => options.onProgress?.({ stage: 'download', file: e.file, loaded: e.loaded, total: e.total }),
  });
  return { folder, hubId: options.checkpoint };
}

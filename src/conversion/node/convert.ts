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
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import type { SegGPTConfigFields } from '../../configs/seggpt_config_fields.js';
import { CheckpointError, InputError } from '../../errors.js';
import { convertedConfigJSON, prepareCheckpoint, serializeVariant, type SerializedVariant } from '../checkpoint.js';
import { downloadCheckpoint } from '../hub/download.js';
import { ATTENTION_FORMS, type AttentionForm } from '../seggpt_graph.js';
import { resolveVariants } from '../variants.js';
import { folderCheckpointFiles, writeSerializedFiles } from './files.js';
import { createStaging, discardStaging, placeStaging } from './staging.js';

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
  /** Convert weights that hold NaN or ±Infinity instead of refusing them (the model will answer nonsense). */
  allow_non_finite?: boolean;
  /**
   * How the encoder's attention is written: 'fused' (default: onnxruntime's MultiHeadAttention, less memory) or
   * 'decomposed' (standard ONNX ops only, for other runtimes).
   */
  attention?: AttentionForm;
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

function checkAttention(attention: unknown): AttentionForm | undefined {
  if (attention === undefined || ATTENTION_FORMS.includes(attention as AttentionForm)) return attention as AttentionForm | undefined;
  throw new InputError(`attention must be one of ${ATTENTION_FORMS.join(', ')}, got ${JSON.stringify(attention)}`);
}

export async function convertCheckpoint(options: ConvertOptions): Promise<ConvertResult> {
  const variants = resolveVariants(options.dtypes);
  checkAttention(options.attention);
  const output = resolve(options.output);
  if (existsSync(output) && !options.overwrite) {
    throw new InputError(`output folder ${output} already exists: choose another --output or pass --overwrite`);
  }
  const { folder: source, hubId } = await resolveCheckpoint(options);
  if (options.overwrite) await refuseToReplaceSource(output, source);
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
        const serialized: SerializedVariant = await serializeVariant(config, weights, variant, {
          externalData: options.external_data ?? 'auto',
          allowNonFinite: options.allow_non_finite,
          attention: checkAttention(options.attention),
        });
        await writeSerializedFiles(staging, serialized.files);
        warnings.push(...serialized.warnings.map((w) => `${variant.dtype}: ${w}`));
        options.onProgress?.({ stage: 'write', dtype: variant.dtype, file: `onnx/${variant.file}`, bytes: serialized.bytes });
        written.push({ dtype: serialized.dtype, file: serialized.file, external_data: serialized.external_data, bytes: serialized.bytes });
      }
      await writeFile(join(staging, 'config.json'), JSON.stringify(convertedConfigJSON(config, written), null, 2) + '\n');
      await writeFile(join(staging, 'preprocessor_config.json'), JSON.stringify(preprocessor, null, 2) + '\n');
      await placeStaging(staging, output, { replace: options.overwrite });
      options.onProgress?.({ stage: 'done', output });
      return { output, config, variants: written, warnings };
    } catch (error) {
      await discardStaging(staging);
      throw error;
    }
  } finally {
    await weights.close();
  }
}

/** Where `path` really is: symbolic links resolved for the part of it that exists. */
async function realLocation(path: string): Promise<string> {
  const rest: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...rest.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      rest.push(basename(current));
      current = parent;
    }
  }
}

/** --overwrite replaces `output`: never when it is the checkpoint folder or a folder that holds it. */
async function refuseToReplaceSource(output: string, source: string): Promise<void> {
  const [out, src] = await Promise.all([realLocation(output), realLocation(source)]);
  if (src === out || src.startsWith(out.endsWith(sep) ? out : out + sep)) {
    throw new InputError(
      `--output ${output} ${src === out ? 'is the checkpoint folder' : `holds the checkpoint (${source})`}: --overwrite would delete it — choose another --output`,
    );
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

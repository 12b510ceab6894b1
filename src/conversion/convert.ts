/**
 * `seggpt convert`: a Hugging Face SegGPT checkpoint (folder or hub id) → a Transformers.js repo:
 *
 *   <out>/config.json               the checkpoint's config + a `transformers.js_config` block
 *   <out>/preprocessor_config.json
 *   <out>/onnx/model.onnx           (+ model.onnx_data when external data is used), model_fp16.onnx, …
 *
 * Everything is written into a temporary sibling folder that is renamed into place at the end,
 * so a failed conversion never leaves a half-written model behind.
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseSegGPTConfig, segGPTConfigToJSON, type SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import { parseSegGPTPreprocessorConfig } from '../configs/seggpt_preprocessor_config.js';
import { CheckpointError, InputError } from '../errors.js';
import { checkCheckpointTensors } from './checkpoint_layout.js';
import { downloadCheckpoint } from './hub/download.js';
import { writeModel } from './onnx/write.js';
import { openCheckpointWeights } from './safetensors.js';
import { buildSegGPTGraph } from './seggpt_graph.js';
import { resolveVariants, type Variant } from './variants.js';

export const PRODUCER = 'transformers-seggpt';
export const PRODUCER_VERSION = '0.1.0';

/** Above this many bytes of weights a variant's initializers go to `<file>_data`. */
export const EXTERNAL_DATA_THRESHOLD_BYTES = 256 * 1024 * 1024;

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

export interface ConvertedFile {
  path: string;
  bytes: number;
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
  const config = parseSegGPTConfig(await readJson(join(source, 'config.json')), join(source, 'config.json'));
  // Names the source model in the converted config (model cards use it as base_model).
  if (hubId) config._name_or_path = hubId;
  const preprocessorPath = join(source, 'preprocessor_config.json');
  const preprocessor = parseSegGPTPreprocessorConfig(await readJson(preprocessorPath), preprocessorPath);
  checkProcessorMatchesModel(config, preprocessor.size, preprocessorPath);

  const weights = await openCheckpointWeights(source);
  const warnings: string[] = [];
  await mkdir(dirname(output), { recursive: true });
  const staging = await mkdtemp(join(dirname(output), `.${basename(output)}.partial-`));
  try {
    warnings.push(...checkCheckpointTensors(weights, config));
    await mkdir(join(staging, 'onnx'));
    const written: ConvertResult['variants'] = [];
    for (const variant of variants) {
      written.push(await writeVariant(variant, config, weights, staging, options));
    }
    await writeFile(join(staging, 'config.json'), JSON.stringify(withTransformersJsConfig(config, written), null, 2) + '\n');
    await writeFile(join(staging, 'preprocessor_config.json'), JSON.stringify(preprocessor, null, 2) + '\n');
    await moveIntoPlace(staging, output);
    options.onProgress?.({ stage: 'done', output });
    return { output, config, variants: written, warnings };
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  } finally {
    await weights.close();
  }
}

async function writeVariant(variant: Variant, config: SegGPTConfigFields, weights: Awaited<ReturnType<typeof openCheckpointWeights>>, staging: string, options: ConvertOptions) {
  options.onProgress?.({ stage: 'build', dtype: variant.dtype });
  const graph = await buildSegGPTGraph(config, weights, variant.plan);
  const weightBytes = graph.initializers.reduce((sum, i) => sum + i.byteLength, 0);
  const external = options.external_data === undefined || options.external_data === 'auto' ? weightBytes > EXTERNAL_DATA_THRESHOLD_BYTES : options.external_data;
  const path = join(staging, 'onnx', variant.file);
  const result = await writeModel(
    graph,
    path,
    {
      producer: PRODUCER,
      version: PRODUCER_VERSION,
      docString: `SegGptForImageSegmentation (${variant.dtype}) converted by ${PRODUCER}`,
      metadata: { dtype: variant.dtype, model_type: 'seggpt' },
    },
    external,
  );
  const bytes = result.onnxBytes + (result.externalDataBytes ?? 0);
  options.onProgress?.({ stage: 'write', dtype: variant.dtype, file: `onnx/${variant.file}`, bytes });
  return { dtype: variant.dtype, file: variant.file, external_data: external, bytes };
}

/** The `transformers.js_config` block: default dtype, and which files carry external data. */
function withTransformersJsConfig(config: SegGPTConfigFields, written: ConvertResult['variants']): Record<string, unknown> {
  const external = Object.fromEntries(written.filter((v) => v.external_data).map((v) => [v.file, 1]));
  const dtypes = written.map((v) => v.dtype);
  const jsConfig: Record<string, unknown> = { dtype: dtypes.includes('fp32') ? 'fp32' : dtypes[0] };
  if (Object.keys(external).length) jsConfig.use_external_data_format = external;
  return { ...segGPTConfigToJSON(config), 'transformers.js_config': jsConfig };
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

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CheckpointError(`${path} is missing: a SegGPT checkpoint folder holds config.json, preprocessor_config.json and model.safetensors`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${path} is not valid JSON (${(error as Error).message}): re-download the checkpoint`);
  }
}

function checkProcessorMatchesModel(config: SegGPTConfigFields, size: { height: number; width: number }, source: string): void {
  const [canvasH, canvasW] = config.image_size;
  if (size.height * 2 !== canvasH || size.width !== canvasW) {
    throw new CheckpointError(
      `${source}: size ${size.height}×${size.width} does not fit the model's image_size ${canvasH}×${canvasW} (prompt over query): ` +
        `set size to {"height": ${canvasH / 2}, "width": ${canvasW}}`,
    );
  }
}

/** Renames the staged folder to `output`, replacing an existing one only after the new one is complete. */
async function moveIntoPlace(staging: string, output: string): Promise<void> {
  if (!existsSync(output)) {
    await rename(staging, output);
    return;
  }
  const previous = `${staging}.previous`;
  await rename(output, previous);
  try {
    await rename(staging, output);
  } catch (error) {
    await rename(previous, output);
    throw error;
  }
  await rm(previous, { recursive: true, force: true });
}

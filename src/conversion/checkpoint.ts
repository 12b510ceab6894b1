/**
 * Checkpoint → ONNX files, on byte sources and sinks (no file system): what `seggpt convert` writes to a folder and
 * what a first load by hub id builds in memory for Transformers.js are the same bytes.
 */
import { parseSegGPTConfig, segGPTConfigToJSON, segGPTGeometry, type SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import { parseSegGPTPreprocessorConfig, type SegGPTPreprocessorConfigFields } from '../configs/seggpt_preprocessor_config.js';
import { CheckpointError } from '../errors.js';
import { readText, type CheckpointFiles } from './byte_source.js';
import { checkCheckpointTensors, expectedTensors } from './checkpoint_layout.js';
import { productionOrder, serializeModel, type ModelMeta, type SerializedFile } from './onnx/serialize.js';
import { openCheckpointWeights, type CheckpointWeights } from './safetensors.js';
import { type AttentionForm, buildSegGPTGraph, DEFAULT_ATTENTION, type WeightReader } from './seggpt_graph.js';
import { resolveVariants, type Variant } from './variants.js';

export const PRODUCER = 'transformers-seggpt';
export const PRODUCER_VERSION = '0.1.0';

/** Above this many bytes of weights a variant's initializers go to `<file>_data`. */
export const EXTERNAL_DATA_THRESHOLD_BYTES = 256 * 1024 * 1024;

export const CONFIG_FILE = 'config.json';
export const PREPROCESSOR_CONFIG_FILE = 'preprocessor_config.json';

/** A checkpoint whose configs are validated and whose weights are open. Close `weights` when done. */
export interface PreparedCheckpoint {
  config: SegGPTConfigFields;
  preprocessor: SegGPTPreprocessorConfigFields;
  weights: CheckpointWeights;
  /** One line per tensor the model does not use (they are ignored). */
  warnings: string[];
}

export interface PrepareOptions {
  /** Parsed config.json, when the caller already has it; otherwise it is read from `files`. */
  config?: unknown;
  /** Parsed preprocessor_config.json, likewise. */
  preprocessor?: unknown;
}

/** Reads and validates config.json, preprocessor_config.json and the weights' layout (before any tensor is read). */
export async function prepareCheckpoint(files: CheckpointFiles, options: PrepareOptions = {}): Promise<PreparedCheckpoint> {
  const preprocessorSource = `${files.location}/${PREPROCESSOR_CONFIG_FILE}`;
  const config = parseSegGPTConfig(options.config ?? (await readJson(files, CONFIG_FILE)), `${files.location}/${CONFIG_FILE}`);
  const preprocessor = parseSegGPTPreprocessorConfig(options.preprocessor ?? (await readJson(files, PREPROCESSOR_CONFIG_FILE)), preprocessorSource);
  checkProcessorMatchesModel(config, preprocessor.size, preprocessorSource);
  return { ...(await openCheckpoint(files, config)), config, preprocessor };
}

/** The weights of a checkpoint, checked against `config` (the ONNX files depend on nothing else). */
export async function openCheckpoint(files: CheckpointFiles, config: SegGPTConfigFields): Promise<{ weights: CheckpointWeights; warnings: string[] }> {
  const weights = await openCheckpointWeights(files);
  try {
    return { weights, warnings: checkCheckpointTensors(weights, config) };
  } catch (error) {
    await weights.close();
    throw error;
  }
}

export interface SerializedVariant {
  dtype: string;
  /** File name inside onnx/. */
  file: string;
  external_data: boolean;
  /** The data file first (when there is one), then the .onnx: write or send them in this order. */
  files: SerializedFile[];
  bytes: number;
  /** What the conversion changed on the way (fp16 clamping), filled in as the files are produced. */
  warnings: readonly string[];
}

export interface SerializeOptions {
  /** 'auto' (default): external data above EXTERNAL_DATA_THRESHOLD_BYTES of weights. */
  externalData?: 'auto' | boolean;
  /** Convert weights that hold NaN or ±Infinity instead of refusing them. */
  allowNonFinite?: boolean;
  /** How the encoder's attention is written (default 'fused'; see AttentionForm). */
  attention?: AttentionForm;
}

/** Reads weights, refusing tensors that hold NaN or ±Infinity (a broken checkpoint would convert into a model that finds nothing). */
export function finiteWeights(weights: WeightReader, allowNonFinite = false): WeightReader {
  if (allowNonFinite) return weights;
  return {
    async readFloat32(name) {
      const values = await weights.readFloat32(name);
      let bad = 0;
      let first = -1;
      for (let i = 0; i < values.length; i++) {
        // x - x is 0 for every finite x and NaN for NaN and ±Infinity.
        if (values[i] - values[i] !== 0) {
          if (first < 0) first = i;
          bad++;
        }
      }
      if (bad) {
        throw new CheckpointError(
          `checkpoint tensor "${name}" holds ${bad} non-finite value(s) (NaN or ±Infinity; the first at element ${first}: ${values[first]}); ` +
            'the checkpoint is broken — re-download it, or convert it anyway with --allow-non-finite (allow_non_finite: true)',
        );
      }
      return values;
    },
  };
}

/** The ONNX files of one precision variant; weights are read from the checkpoint as the files are consumed. */
export async function serializeVariant(config: SegGPTConfigFields, weights: WeightReader, variant: Variant, options: SerializeOptions = {}): Promise<SerializedVariant> {
  const attention = options.attention ?? DEFAULT_ATTENTION;
  const { graph, external } = await buildVariant(config, finiteWeights(weights, options.allowNonFinite), variant, options.externalData ?? 'auto', attention);
  const files = serializeModel(graph, `onnx/${variant.file}`, metaOf(variant, attention), external);
  return {
    dtype: variant.dtype,
    file: variant.file,
    external_data: external,
    files,
    bytes: files.reduce((sum, f) => sum + f.byteLength, 0),
    warnings: graph.warnings,
  };
}

async function buildVariant(config: SegGPTConfigFields, weights: WeightReader, variant: Variant, externalData: 'auto' | boolean, attention: AttentionForm) {
  const graph = await buildSegGPTGraph(config, weights, variant.plan, { attention });
  const external = externalData === 'auto' ? weightBytesOf(graph) > EXTERNAL_DATA_THRESHOLD_BYTES : externalData;
  return { graph, external };
}

function metaOf(variant: Variant, attention: AttentionForm): ModelMeta {
  return {
    producer: PRODUCER,
    version: PRODUCER_VERSION,
    docString: `SegGptForImageSegmentation (${variant.dtype}) converted by ${PRODUCER}`,
    metadata: { dtype: variant.dtype, model_type: 'seggpt', attention },
  };
}

function weightBytesOf(graph: { initializers: readonly { byteLength: number }[] }): number {
  return graph.initializers.reduce((sum, init) => sum + init.byteLength, 0);
}

export interface PlannedVariant {
  dtype: string;
  /** File name inside onnx/. */
  file: string;
  external_data: boolean;
  attention: AttentionForm;
  /** The files serializeVariant will produce for this config, in the same order, with their exact sizes. */
  files: { path: string; byteLength: number }[];
  /** Checkpoint tensors in the order the conversion reads them (while building the graph, then while producing). */
  readOrder: string[];
}

const planMemo = new Map<string, PlannedVariant>();

/** Throws when the files a conversion produced differ from its plan (which the library was told to expect). */
export function checkAgainstPlan(serialized: Pick<SerializedVariant, 'files'>, plan: Pick<PlannedVariant, 'files'>): void {
  const sizes = serialized.files.map((f) => `${f.path}:${f.byteLength}`).join(',');
  const planned = plan.files.map((f) => `${f.path}:${f.byteLength}`).join(',');
  if (sizes !== planned) throw new Error(`transformers-seggpt: the converted files (${sizes}) differ from the plan (${planned}); please report this`);
}

/**
 * What serializeVariant will produce for `dtype`, known before the checkpoint is read: file names, sizes and whether
 * weights go to external data depend on the config alone (shapes, not values), so the graph is built on zeros.
 */
export async function planVariant(
  config: SegGPTConfigFields,
  dtype: string,
  externalData: 'auto' | boolean = 'auto',
  attention: AttentionForm = DEFAULT_ATTENTION,
): Promise<PlannedVariant> {
  const [variant] = resolveVariants(dtype);
  const key = `${variant.dtype}|${externalData}|${attention}|${JSON.stringify(segGPTConfigToJSON(config))}`;
  let plan = planMemo.get(key);
  if (!plan) {
    const sizes = new Map(expectedTensors(config).map((t) => [t.name, t.shape.reduce((a, b) => a * b, 1)]));
    const buildReads: string[] = [];
    const zeros: WeightReader = {
      readFloat32: async (name) => {
        buildReads.push(name);
        return new Float32Array(sizes.get(name) ?? 0);
      },
    };
    const { graph, external } = await buildVariant(config, zeros, variant, externalData, attention);
    const produceReads = productionOrder(graph, external).flatMap((init) => init.sources ?? []);
    plan = {
      dtype: variant.dtype,
      file: variant.file,
      external_data: external,
      attention,
      files: serializeModel(graph, `onnx/${variant.file}`, metaOf(variant, attention), external).map(({ path, byteLength }) => ({ path, byteLength })),
      readOrder: [...new Set([...buildReads, ...produceReads])],
    };
    planMemo.set(key, plan);
  }
  return structuredClone(plan);
}

/** The converted model's config.json: the checkpoint's config plus a `transformers.js_config` block. */
export function convertedConfigJSON(config: SegGPTConfigFields, written: readonly Pick<SerializedVariant, 'dtype' | 'file' | 'external_data'>[]): Record<string, unknown> {
  const external = Object.fromEntries(written.filter((v) => v.external_data).map((v) => [v.file, 1]));
  const dtypes = written.map((v) => v.dtype);
  const jsConfig: Record<string, unknown> = { dtype: dtypes.includes('fp32') ? 'fp32' : dtypes[0] };
  if (Object.keys(external).length) jsConfig.use_external_data_format = external;
  return { ...segGPTConfigToJSON(config), 'transformers.js_config': jsConfig };
}

async function readJson(files: CheckpointFiles, file: string): Promise<unknown> {
  const where = `${files.location}/${file}`;
  const source = await files.open(file);
  if (!source) throw new CheckpointError(`${where} is missing: a SegGPT checkpoint folder holds config.json, preprocessor_config.json and model.safetensors`);
  let text: string;
  try {
    text = await readText(source);
  } finally {
    await source.close?.();
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${where} is not valid JSON (${(error as Error).message}): re-download the checkpoint`);
  }
}

function checkProcessorMatchesModel(config: SegGPTConfigFields, size: { height: number; width: number }, source: string): void {
  const { image_height: height, image_width: width } = segGPTGeometry(config);
  if (size.height !== height || size.width !== width) {
    throw new CheckpointError(
      `${source}: size ${size.height}×${size.width} does not fit the model's image_size ${config.image_size[0]}×${config.image_size[1]} (prompt over query): ` +
        `set size to {"height": ${height}, "width": ${width}}`,
    );
  }
}

import { asObject, checkNesting, configError, describeValue, passThrough, readBool, readInt, readNumber, type RawObject } from './validate.js';

/**
 * The `config.json` of a SegGPT checkpoint (`model_type: "seggpt"`), parsed without Transformers.js.
 * `SegGPTConfig` (seggpt_config.ts) wraps the same fields in a Transformers.js `PretrainedConfig`.
 */

/** Activations the converter can emit for `hidden_act` (names as in HF `ACT2FN`). */
export const SUPPORTED_ACTIVATIONS = [
  'gelu',
  'gelu_new',
  'gelu_pytorch_tanh',
  'gelu_fast',
  'quick_gelu',
  'relu',
  'silu',
  'swish',
] as const;

export type SegGPTActivation = (typeof SUPPORTED_ACTIVATIONS)[number];

export interface SegGPTConfigFields {
  model_type: 'seggpt';
  architectures?: string[];
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  hidden_act: SegGPTActivation;
  hidden_dropout_prob: number;
  initializer_range: number;
  layer_norm_eps: number;
  /** [height, width] of the prompt-over-query canvas in pixels. */
  image_size: [number, number];
  patch_size: number;
  num_channels: number;
  qkv_bias: boolean;
  mlp_dim: number;
  drop_path_rate: number;
  pretrain_image_size: number;
  decoder_hidden_size: number;
  use_relative_position_embeddings: boolean;
  merge_index: number;
  intermediate_hidden_state_indices: number[];
  beta: number;
  /** Keys this parser does not know (torch_dtype, transformers_version, transformers.js_config, ...) pass through. */
  [key: string]: unknown;
}

/** HF `SegGptConfig.__init__` defaults (BAAI/seggpt-vit-large); `mlp_dim: null` means `hidden_size * 4`. */
export const SEGGPT_CONFIG_DEFAULTS = Object.freeze({
  model_type: 'seggpt' as const,
  hidden_size: 1024,
  num_hidden_layers: 24,
  num_attention_heads: 16,
  hidden_act: 'gelu' as SegGPTActivation,
  hidden_dropout_prob: 0.0,
  initializer_range: 0.02,
  layer_norm_eps: 1e-6,
  image_size: Object.freeze([896, 448]) as readonly [number, number],
  patch_size: 16,
  num_channels: 3,
  qkv_bias: true,
  mlp_dim: null as number | null,
  drop_path_rate: 0.1,
  pretrain_image_size: 224,
  decoder_hidden_size: 64,
  use_relative_position_embeddings: true,
  merge_index: 2,
  intermediate_hidden_state_indices: Object.freeze([5, 11, 17, 23]) as readonly number[],
  beta: 0.01,
});

/**
 * Upper bounds of the size fields, checked before anything is allocated: each is far beyond any SegGPT (ViT-L: 1024
 * hidden, 24 layers, 16 heads, 56 × 28 patches) and keeps a hostile config.json from asking for terabytes.
 */
export const SEGGPT_CONFIG_LIMITS = Object.freeze({
  hidden_size: 16384,
  num_hidden_layers: 512,
  num_attention_heads: 1024,
  mlp_dim: 131072,
  image_side: 16384,
  patch_size: 1024,
  /** Patches of the prompt-over-query canvas (attention is over all of them): 128 × 128. */
  patches: 16384,
  pretrain_patches: 65536,
  decoder_hidden_size: 4096,
  /** Outputs of decoder_embed (patch_size² × decoder_hidden_size). */
  decoder_features: 1 << 24,
});

const KNOWN_KEYS = new Set<string>([...Object.keys(SEGGPT_CONFIG_DEFAULTS), 'architectures']);
/** Older SegGPT configs name the decoder feature layers `intermediate_feature_indices`. */
const INDICES_ALIAS = 'intermediate_feature_indices';
/** Set by Transformers.js on a PretrainedConfig instance; recomputed, never part of config.json. */
const DROPPED_KEYS = new Set<string>([INDICES_ALIAS, 'normalized_config']);

/**
 * Whether the patch grid has an even number of rows. The feature ensemble splits the rows into prompt and answer
 * halves; the reference fails on an odd count, so such checkpoints run without it.
 */
export function supportsFeatureEnsemble(config: SegGPTConfigFields): boolean {
  return segGPTGeometry(config).grid_h % 2 === 0;
}

/**
 * Applies the HF defaults to a parsed `config.json` and validates it for conversion.
 * Throws SegGPTConfigError naming the field, the bad value and the fix. Pure: touches no global state.
 */
export function parseSegGPTConfig(raw: unknown, source = 'config.json'): SegGPTConfigFields {
  const obj = asObject(raw, source, 'a SegGPT config');
  checkNesting(obj, source);
  const get = (key: keyof typeof SEGGPT_CONFIG_DEFAULTS): unknown => (obj[key] === undefined ? SEGGPT_CONFIG_DEFAULTS[key] : obj[key]);
  const L = SEGGPT_CONFIG_LIMITS;

  const model_type = get('model_type');
  if (model_type !== 'seggpt') {
    throw configError(source, 'model_type', model_type, 'must be "seggpt"', 'this converter only handles SegGPT checkpoints (SegGptForImageSegmentation)');
  }
  const architectures = readArchitectures(source, obj.architectures);

  const hidden_size = readInt(source, 'hidden_size', get('hidden_size'), 1, L.hidden_size);
  const num_hidden_layers = readInt(source, 'num_hidden_layers', get('num_hidden_layers'), 1, L.num_hidden_layers);
  const num_attention_heads = readInt(source, 'num_attention_heads', get('num_attention_heads'), 1, L.num_attention_heads);
  const hidden_act = readActivation(source, get('hidden_act'));
  const hidden_dropout_prob = readNumber(source, 'hidden_dropout_prob', get('hidden_dropout_prob'), (n) => n >= 0 && n <= 1, 'in [0, 1]');
  const initializer_range = readNumber(source, 'initializer_range', get('initializer_range'), (n) => n >= 0, '≥ 0');
  const layer_norm_eps = readNumber(source, 'layer_norm_eps', get('layer_norm_eps'), (n) => n > 0, '> 0 (e.g. 1e-6)');
  const image_size = readImageSize(source, get('image_size'));
  const patch_size = readInt(source, 'patch_size', get('patch_size'), 1, L.patch_size);
  const num_channels = readInt(source, 'num_channels', get('num_channels'), 1);
  const qkv_bias = readBool(source, 'qkv_bias', get('qkv_bias'));
  const mlp_dim = obj.mlp_dim === null || obj.mlp_dim === undefined ? hidden_size * 4 : readInt(source, 'mlp_dim', obj.mlp_dim, 1, L.mlp_dim);
  const drop_path_rate = readNumber(source, 'drop_path_rate', get('drop_path_rate'), (n) => n >= 0 && n <= 1, 'in [0, 1]');
  const pretrain_image_size = readInt(source, 'pretrain_image_size', get('pretrain_image_size'), 1, L.image_side);
  const decoder_hidden_size = readInt(source, 'decoder_hidden_size', get('decoder_hidden_size'), 1, L.decoder_hidden_size);
  const use_relative_position_embeddings = readBool(source, 'use_relative_position_embeddings', get('use_relative_position_embeddings'));
  const merge_index = readInt(source, 'merge_index', get('merge_index'), 0);
  const indices = readIndices(source, obj);
  const beta = readNumber(source, 'beta', get('beta'), (n) => n >= 0, '≥ 0');

  if (num_channels !== 3) {
    throw configError(source, 'num_channels', num_channels, 'must be 3', 'SegGPT works on RGB images and RGB masks: set num_channels to 3');
  }
  if (hidden_size % num_attention_heads !== 0) {
    throw configError(
      source,
      'hidden_size',
      hidden_size,
      `must be divisible by num_attention_heads=${num_attention_heads}`,
      'use a hidden_size that is a multiple of num_attention_heads (hidden_size = heads × head_dim)',
    );
  }
  image_size.forEach((side, axis) => {
    if (side % patch_size !== 0) {
      throw configError(
        source,
        'image_size',
        image_size,
        `[${axis}] = ${side} must be divisible by patch_size=${patch_size}`,
        'use an image_size that is a whole number of patches in both dimensions',
      );
    }
  });
  if (image_size[0] % 2 !== 0) {
    throw configError(
      source,
      'image_size',
      image_size,
      `[0] = ${image_size[0]} must be even (the canvas is the prompt stacked over the query, two images of equal height)`,
      'use an image_size[0] that is twice the per-image height',
    );
  }
  const patches = (image_size[0] / patch_size) * (image_size[1] / patch_size);
  if (patches > L.patches) {
    throw configError(source, 'image_size', image_size, `with patch_size=${patch_size} makes ${patches} patches, more than ${L.patches}`, 'use the config.json of the checkpoint (ViT-L: [896, 448] with patch 16, 1568 patches)');
  }
  if ((pretrain_image_size / patch_size) ** 2 > L.pretrain_patches) {
    throw configError(source, 'pretrain_image_size', pretrain_image_size, `makes more than ${L.pretrain_patches} position embeddings`, 'use the config.json of the checkpoint (ViT-L: 224)');
  }
  if (patch_size * patch_size * decoder_hidden_size > L.decoder_features) {
    throw configError(source, 'decoder_hidden_size', decoder_hidden_size, `× patch_size² is more than ${L.decoder_features} decoder features`, 'use the config.json of the checkpoint (ViT-L: 64)');
  }
  if (pretrain_image_size % patch_size !== 0) {
    throw configError(
      source,
      'pretrain_image_size',
      pretrain_image_size,
      `must be divisible by patch_size=${patch_size}`,
      'set it to the side length the position embeddings were trained at (a multiple of patch_size)',
    );
  }
  if (merge_index >= num_hidden_layers) {
    throw configError(source, 'merge_index', merge_index, `must be in [0, num_hidden_layers=${num_hidden_layers})`, 'set it to the index of an encoder layer');
  }
  const indicesField = obj.intermediate_hidden_state_indices === undefined && obj[INDICES_ALIAS] !== undefined ? INDICES_ALIAS : 'intermediate_hidden_state_indices';
  indices.forEach((index, k) => {
    if (index >= num_hidden_layers) {
      throw configError(source, indicesField, indices, `has ${index} outside [0, num_hidden_layers=${num_hidden_layers})`, 'list only existing encoder layers');
    }
    if (k > 0 && index <= indices[k - 1]) {
      throw configError(source, indicesField, indices, 'must be strictly increasing (sorted, no duplicates)', 'sort the layer indices and remove duplicates');
    }
    if (index < merge_index) {
      throw configError(
        source,
        indicesField,
        indices,
        `has ${index} < merge_index=${merge_index}`,
        'every decoder feature layer must come at or after the merge layer (HF SegGptConfig requires merge_index ≤ min(indices))',
      );
    }
  });

  const fields: SegGPTConfigFields = {
    model_type: 'seggpt',
    ...(architectures ? { architectures } : {}),
    hidden_size,
    num_hidden_layers,
    num_attention_heads,
    hidden_act,
    hidden_dropout_prob,
    initializer_range,
    layer_norm_eps,
    image_size,
    patch_size,
    num_channels,
    qkv_bias,
    mlp_dim,
    drop_path_rate,
    pretrain_image_size,
    decoder_hidden_size,
    use_relative_position_embeddings,
    merge_index,
    intermediate_hidden_state_indices: indices,
    beta,
  };
  return { ...passThrough(obj, KNOWN_KEYS, DROPPED_KEYS), ...fields };
}

/** A config as the hub stores it: sorted keys, the architecture named, ready for JSON.stringify. */
export function segGPTConfigToJSON(config: SegGPTConfigFields): RawObject {
  const out: RawObject = { architectures: ['SegGptForImageSegmentation'] };
  for (const [key, value] of Object.entries(config)) {
    if (value !== undefined && !DROPPED_KEYS.has(key)) out[key] = value;
  }
  return Object.fromEntries(Object.keys(out).sort().map((key) => [key, out[key]]));
}

function readArchitectures(source: string, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw configError(source, 'architectures', value, 'must be a list of class names', 'use ["SegGptForImageSegmentation"]');
  }
  return [...value];
}

function readActivation(source: string, value: unknown): SegGPTActivation {
  if (typeof value !== 'string' || !(SUPPORTED_ACTIVATIONS as readonly string[]).includes(value)) {
    throw configError(source, 'hidden_act', value, 'is not a supported activation', `use one of ${SUPPORTED_ACTIVATIONS.join(', ')}`);
  }
  return value as SegGPTActivation;
}

function readImageSize(source: string, value: unknown): [number, number] {
  if (typeof value === 'number') {
    const side = readInt(source, 'image_size', value, 1, SEGGPT_CONFIG_LIMITS.image_side);
    return [side, side];
  }
  if (!Array.isArray(value) || value.length !== 2) {
    throw configError(source, 'image_size', value, 'must be [height, width] or one integer', 'e.g. [896, 448] (prompt over query, 448×448 each)');
  }
  const [h, w] = value.map((side) => {
    if (typeof side !== 'number' || !Number.isSafeInteger(side) || side < 1 || side > SEGGPT_CONFIG_LIMITS.image_side) {
      throw configError(source, 'image_size', value, `must hold two positive integers (at most ${SEGGPT_CONFIG_LIMITS.image_side})`, 'e.g. [896, 448]');
    }
    return side;
  });
  return [h, w];
}

function readIndices(source: string, obj: RawObject): number[] {
  const main = obj.intermediate_hidden_state_indices;
  const alias = obj[INDICES_ALIAS];
  if (main !== undefined && alias !== undefined && JSON.stringify(main) !== JSON.stringify(alias)) {
    throw configError(
      source,
      'intermediate_hidden_state_indices',
      main,
      `disagrees with its older alias ${INDICES_ALIAS}=${describeValue(alias)}`,
      `keep only intermediate_hidden_state_indices`,
    );
  }
  const field = main === undefined && alias !== undefined ? INDICES_ALIAS : 'intermediate_hidden_state_indices';
  const value = main ?? alias ?? SEGGPT_CONFIG_DEFAULTS.intermediate_hidden_state_indices;
  if (!Array.isArray(value)) throw configError(source, field, value, 'must be a list of encoder layer indices', 'e.g. [5, 11, 17, 23]');
  if (value.length === 0) throw configError(source, field, value, 'must not be empty', 'list at least one encoder layer whose output feeds the decoder');
  return value.map((index) => {
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
      throw configError(source, field, value, 'must hold non-negative integers', 'list encoder layer indices (0-based)');
    }
    return index;
  });
}

/** The sizes every part derives from the config: one prompt or query image, the canvas's patch grid, the heads. */
export interface SegGPTGeometry {
  /** Height and width of one prompt or query image (the canvas stacks two: image_size = [2 · height, width]). */
  image_height: number;
  image_width: number;
  /** Patch grid of the whole canvas (prompt over query). */
  grid_h: number;
  grid_w: number;
  head_dim: number;
  /** Side of the square grid the position embeddings were trained on. */
  pretrain_grid: number;
}

export function segGPTGeometry(config: Pick<SegGPTConfigFields, 'image_size' | 'patch_size' | 'hidden_size' | 'num_attention_heads' | 'pretrain_image_size'>): SegGPTGeometry {
  return {
    image_height: config.image_size[0] / 2,
    image_width: config.image_size[1],
    grid_h: config.image_size[0] / config.patch_size,
    grid_w: config.image_size[1] / config.patch_size,
    head_dim: config.hidden_size / config.num_attention_heads,
    pretrain_grid: config.pretrain_image_size / config.patch_size,
  };
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PretrainedConfig } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';
import {
  parseSegGPTConfig,
  SEGGPT_CONFIG_DEFAULTS,
  SegGPTConfig,
  segGPTConfigToJSON,
  SUPPORTED_ACTIVATIONS,
} from '../src/configs/seggpt_config.js';
import { parseSegGPTPreprocessorConfig, SEGGPT_PREPROCESSOR_DEFAULTS } from '../src/configs/seggpt_preprocessor_config.js';
import { SegGPTConfigError } from '../src/errors.js';
import { SHAPES, TINY, VIT_L } from './support/fixtures.js';

const FIXTURE_DIRS = { tiny: TINY, shapes: SHAPES, 'vit-large': VIT_L };
const readJson = (path: string): Record<string, any> => JSON.parse(readFileSync(path, 'utf8'));
const tinyConfig = (): Record<string, any> => readJson(join(TINY, 'config.json'));

/** Runs `fn`, expects a SegGPTConfigError and returns its message. */
function configErrorMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SegGPTConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a SegGPTConfigError');
}

describe('parseSegGPTConfig', () => {
  it.each(Object.entries(FIXTURE_DIRS))('parses the %s fixture config and keeps every value', (_, dir) => {
    const raw = readJson(join(dir, 'config.json'));
    const config = parseSegGPTConfig(raw);
    for (const [key, value] of Object.entries(raw)) expect(config[key]).toEqual(value);
  });

  it('applies the HF SegGptConfig defaults (BAAI/seggpt-vit-large)', () => {
    const config = parseSegGPTConfig({ model_type: 'seggpt' });
    // Values of SegGptConfig.__init__ in transformers/models/seggpt/configuration_seggpt.py.
    expect(config).toEqual({
      model_type: 'seggpt',
      hidden_size: 1024,
      num_hidden_layers: 24,
      num_attention_heads: 16,
      hidden_act: 'gelu',
      hidden_dropout_prob: 0.0,
      initializer_range: 0.02,
      layer_norm_eps: 1e-6,
      image_size: [896, 448],
      patch_size: 16,
      num_channels: 3,
      qkv_bias: true,
      mlp_dim: 4096,
      drop_path_rate: 0.1,
      pretrain_image_size: 224,
      decoder_hidden_size: 64,
      use_relative_position_embeddings: true,
      merge_index: 2,
      intermediate_hidden_state_indices: [5, 11, 17, 23],
      beta: 0.01,
    });
    expect(SEGGPT_CONFIG_DEFAULTS.mlp_dim).toBeNull();
  });

  it('gives the hub ViT-L config.json from defaults alone', () => {
    const hub = readJson(join(VIT_L, 'config.json'));
    const fromDefaults = parseSegGPTConfig({ model_type: 'seggpt' });
    for (const key of Object.keys(fromDefaults)) expect(fromDefaults[key], key).toEqual(hub[key]);
  });

  it('derives mlp_dim from hidden_size when null or absent', () => {
    expect(parseSegGPTConfig({ ...tinyConfig(), mlp_dim: null }).mlp_dim).toBe(128);
    const { mlp_dim: _, ...rest } = tinyConfig();
    expect(parseSegGPTConfig(rest).mlp_dim).toBe(128);
  });

  it('accepts an integer image_size', () => {
    expect(parseSegGPTConfig({ ...tinyConfig(), image_size: 64 }).image_size).toEqual([64, 64]);
  });

  it('accepts the older intermediate_feature_indices alias', () => {
    const { intermediate_hidden_state_indices: indices, ...rest } = tinyConfig();
    const config = parseSegGPTConfig({ ...rest, intermediate_feature_indices: indices });
    expect(config.intermediate_hidden_state_indices).toEqual([1, 3]);
    expect(config).not.toHaveProperty('intermediate_feature_indices');
    expect(parseSegGPTConfig({ ...tinyConfig(), intermediate_feature_indices: [1, 3] }).intermediate_hidden_state_indices).toEqual([1, 3]);
  });

  it('passes unknown keys through and writes hub JSON with sorted keys', () => {
    const config = parseSegGPTConfig({ ...tinyConfig(), 'transformers.js_config': { dtype: 'fp32' }, id2label: { 0: 'x' } });
    expect(config['transformers.js_config']).toEqual({ dtype: 'fp32' });
    expect(config.torch_dtype).toBe('float32');
    const json = segGPTConfigToJSON(config);
    expect(Object.keys(json)).toEqual(Object.keys(json).slice().sort());
    expect(parseSegGPTConfig(JSON.parse(JSON.stringify(json)))).toEqual(config);
  });

  it('does not mutate its input', () => {
    const raw = tinyConfig();
    const copy = structuredClone(raw);
    parseSegGPTConfig(raw);
    expect(raw).toEqual(copy);
  });

  it('lists the supported activations', () => {
    for (const act of SUPPORTED_ACTIVATIONS) expect(parseSegGPTConfig({ ...tinyConfig(), hidden_act: act }).hidden_act).toBe(act);
  });

  // [what, patch to the tiny config, field the message must name, text the message must contain]
  const invalid: [string, Record<string, unknown>, string, string][] = [
    ['wrong model_type', { model_type: 'vit' }, 'model_type', '"vit"'],
    ['string hidden_size', { hidden_size: '32' }, 'hidden_size', '"32"'],
    ['fractional hidden_size', { hidden_size: 32.5 }, 'hidden_size', '32.5'],
    ['zero hidden_size', { hidden_size: 0 }, 'hidden_size', '0'],
    ['negative num_hidden_layers', { num_hidden_layers: -1 }, 'num_hidden_layers', '-1'],
    ['zero num_attention_heads', { num_attention_heads: 0 }, 'num_attention_heads', '0'],
    ['zero mlp_dim', { mlp_dim: 0 }, 'mlp_dim', '0'],
    ['zero patch_size', { patch_size: 0 }, 'patch_size', '0'],
    ['zero decoder_hidden_size', { decoder_hidden_size: 0 }, 'decoder_hidden_size', '0'],
    ['boolean qkv_bias as string', { qkv_bias: 'true' }, 'qkv_bias', '"true"'],
    ['null use_relative_position_embeddings', { use_relative_position_embeddings: null }, 'use_relative_position_embeddings', 'null'],
    ['hidden_size not divisible by heads', { hidden_size: 30 }, 'hidden_size', 'num_attention_heads=4'],
    ['image_size height not a patch multiple', { image_size: [120, 64] }, 'image_size', 'patch_size=16'],
    ['image_size width not a patch multiple', { image_size: [128, 60] }, 'image_size', '[1] = 60'],
    ['odd canvas height (two equal images cannot stack)', { image_size: [143, 66], patch_size: 11, pretrain_image_size: 66 }, 'image_size', 'even'],
    ['image_size with three values', { image_size: [128, 64, 3] }, 'image_size', '[128,64,3]'],
    ['image_size with zero', { image_size: [0, 64] }, 'image_size', 'positive'],
    ['merge_index out of range', { merge_index: 4, intermediate_hidden_state_indices: [3] }, 'merge_index', 'num_hidden_layers=4'],
    ['negative merge_index', { merge_index: -1 }, 'merge_index', '-1'],
    ['intermediate index out of range', { intermediate_hidden_state_indices: [1, 4] }, 'intermediate_hidden_state_indices', 'num_hidden_layers=4'],
    ['unsorted intermediate indices', { intermediate_hidden_state_indices: [3, 1] }, 'intermediate_hidden_state_indices', 'increasing'],
    ['duplicated intermediate indices', { intermediate_hidden_state_indices: [1, 1, 3] }, 'intermediate_hidden_state_indices', 'duplicates'],
    ['intermediate index before merge_index', { intermediate_hidden_state_indices: [0, 3] }, 'intermediate_hidden_state_indices', 'merge_index=1'],
    ['negative intermediate index', { intermediate_hidden_state_indices: [-1, 3] }, 'intermediate_hidden_state_indices', '-1'],
    ['empty intermediate list', { intermediate_hidden_state_indices: [] }, 'intermediate_hidden_state_indices', 'empty'],
    ['intermediate indices not a list', { intermediate_hidden_state_indices: 3 }, 'intermediate_hidden_state_indices', '3'],
    ['alias disagreeing with the field', { intermediate_feature_indices: [1, 2] }, 'intermediate_hidden_state_indices', 'intermediate_feature_indices'],
    ['pretrain_image_size not a patch multiple', { pretrain_image_size: 40 }, 'pretrain_image_size', 'patch_size=16'],
    ['zero layer_norm_eps', { layer_norm_eps: 0 }, 'layer_norm_eps', '0'],
    ['negative layer_norm_eps', { layer_norm_eps: -1e-6 }, 'layer_norm_eps', '-0.000001'],
    ['unsupported hidden_act', { hidden_act: 'selu' }, 'hidden_act', '"selu"'],
    ['num_channels 1', { num_channels: 1 }, 'num_channels', '1'],
    ['dropout above 1', { hidden_dropout_prob: 1.5 }, 'hidden_dropout_prob', '1.5'],
    ['architectures not a list', { architectures: 'SegGptForImageSegmentation' }, 'architectures', 'SegGptForImageSegmentation'],
  ];

  it.each(invalid)('rejects %s, naming the field and the value', (_, patch, field, text) => {
    const message = configErrorMessage(() => parseSegGPTConfig({ ...tinyConfig(), ...patch }, 'tiny/config.json'));
    expect(message).toContain('tiny/config.json');
    expect(message).toContain(`"${field}"`);
    expect(message).toContain(text);
    expect(message).toMatch(/; \w/); // a fix follows the problem
  });

  it('rejects a config that is not an object', () => {
    expect(configErrorMessage(() => parseSegGPTConfig([]))).toContain('config.json');
    expect(configErrorMessage(() => parseSegGPTConfig(null))).toContain('JSON object');
  });
});

describe('SegGPTConfig', () => {
  it('is a Transformers.js PretrainedConfig with the validated fields', () => {
    const config = new SegGPTConfig(tinyConfig());
    expect(config).toBeInstanceOf(PretrainedConfig);
    expect(config.model_type).toBe('seggpt');
    expect(config.image_size).toEqual([128, 64]);
    expect(config.intermediate_hidden_state_indices).toEqual([1, 3]);
    expect(config.normalized_config.model_type).toBe('seggpt');
    expect(config.toFields()).toEqual(parseSegGPTConfig(tinyConfig()));
  });

  it('fills defaults on construction', () => {
    const config = new SegGPTConfig({ model_type: 'seggpt', hidden_size: 32, num_attention_heads: 4 });
    expect(config.mlp_dim).toBe(128);
    expect(config.merge_index).toBe(2);
    expect(config.qkv_bias).toBe(true);
  });

  it('throws SegGPTConfigError on construction for a bad config', () => {
    expect(configErrorMessage(() => new SegGPTConfig({ ...tinyConfig(), hidden_act: 'tanh' }, 'x/config.json'))).toContain('x/config.json');
  });

  it('loads from a local checkpoint folder', async () => {
    const config = await SegGPTConfig.from_pretrained(SHAPES, { local_files_only: true });
    expect(config).toBeInstanceOf(SegGPTConfig);
    expect(config.hidden_size).toBe(192);
    expect(config.intermediate_hidden_state_indices).toEqual([1, 3, 5]);
  });
});

describe('parseSegGPTPreprocessorConfig', () => {
  it.each(Object.entries(FIXTURE_DIRS))('parses the %s fixture preprocessor config', (_, dir) => {
    const raw = readJson(join(dir, 'preprocessor_config.json'));
    const config = parseSegGPTPreprocessorConfig(raw);
    for (const [key, value] of Object.entries(raw)) expect(config[key]).toEqual(value);
  });

  it('applies the HF SegGptImageProcessor defaults', () => {
    const config = parseSegGPTPreprocessorConfig({});
    const vitL = readJson(join(VIT_L, 'preprocessor_config.json'));
    expect(config).toEqual(vitL);
    expect(config.size).toEqual({ height: 448, width: 448 });
    expect(config.resample).toBe(3);
    expect(SEGGPT_PREPROCESSOR_DEFAULTS.rescale_factor).toBe(1 / 255);
  });

  it('broadcasts a single mean/std and accepts an integer size', () => {
    const config = parseSegGPTPreprocessorConfig({ image_mean: 0.5, image_std: 0.5, size: 64 });
    expect(config.image_mean).toEqual([0.5, 0.5, 0.5]);
    expect(config.size).toEqual({ height: 64, width: 64 });
  });

  const invalid: [string, Record<string, unknown>, string][] = [
    ['another processor', { image_processor_type: 'ViTImageProcessor' }, 'image_processor_type'],
    ['size without width', { size: { height: 64 } }, 'size'],
    ['zero height', { size: { height: 0, width: 64 } }, 'size.height'],
    ['shortest_edge size', { size: { shortest_edge: 64 } }, 'size'],
    ['bad resample', { resample: 9 }, 'resample'],
    ['zero rescale_factor', { rescale_factor: 0 }, 'rescale_factor'],
    ['two means', { image_mean: [0.5, 0.5] }, 'image_mean'],
    ['zero std', { image_std: [0.2, 0, 0.2] }, 'image_std'],
    ['string do_normalize', { do_normalize: 'yes' }, 'do_normalize'],
    ['numeric do_convert_rgb', { do_convert_rgb: 1 }, 'do_convert_rgb'],
  ];

  it.each(invalid)('rejects %s, naming the field', (_, patch, field) => {
    const message = configErrorMessage(() => parseSegGPTPreprocessorConfig({ ...readJson(join(TINY, 'preprocessor_config.json')), ...patch }));
    expect(message).toContain('preprocessor_config.json');
    expect(message).toContain(`"${field}"`);
  });
});

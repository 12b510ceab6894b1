import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectedTensors } from '../src/conversion/checkpoint_layout.js';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { writeSyntheticCheckpoint } from '../src/conversion/node/synthetic.js';
import { parseSegGPTConfig, segGPTConfigToJSON, SUPPORTED_ACTIVATIONS, type SegGPTConfigFields } from '../src/configs/seggpt_config_fields.js';
import { SEGGPT_PREPROCESSOR_DEFAULTS } from '../src/configs/seggpt_preprocessor_config.js';
import { InputError, SegGPTConfigError } from '../src/errors.js';
import { SegGPTForImageSegmentation } from '../src/index.node.js';
import { Tensor } from '@huggingface/transformers';
import { loadCheckpointWeights, referenceForward, type EmbeddingType, type WeightGetter } from './support/reference_forward.js';
import { writeF32Tensors } from './support/safetensors.js';
import { prng } from './support/prng.js';

/**
 * The converter must be right for every valid SegGPT config, not only the fixtures'. Each config below differs
 * from seggpt-tiny on several axes; its checkpoint gets random weights, is converted (fp32) and run in
 * onnxruntime-node, and the outputs are compared with the independent float64 reference forward pass
 * (test/support/reference_forward.ts, itself checked against the HF fixtures in reference_forward.test.ts).
 *
 * Tolerance: the graph computes in float32, the reference in float64. On seggpt-tiny that spread is ≤ 8e-6 for
 * values of magnitude ≤ 7 (≈ 1e-6 relative); here the nets are shallower or narrower, so errors relative to the
 * output's largest magnitude stay in the same range. 1e-4 × max|reference| leaves two orders of margin while a
 * wrong weight, bias, token or index changes outputs by ≥ 1e-2 relative (checked by the sensitivity test).
 * The decoder's channels-first LayerNorm is the one ill-conditioned step: it divides by sqrt(var + eps) over only
 * decoder_hidden_size channels, so a pixel whose channels nearly agree amplifies float32 rounding by
 * 1/sqrt(var + eps). With decoder_hidden_size 3 one such pixel (var 1.9e-6) reached 4.8e-5 relative, so the configs
 * keep decoder_hidden_size ≥ 4 where that is rare; every other pixel stays near 1e-6.
 */
const RELATIVE_TOLERANCE = 1e-4;

interface Case {
  name: string;
  /** config.json fields on top of the HF defaults. */
  raw: Record<string, unknown>;
  /** 'random' (own generator, larger scales) or the shared synthetic-v1 weights. */
  weights: 'random' | 'synthetic-v1';
  /** false where the reference itself cannot run feature_ensemble (an odd number of patch rows). */
  featureEnsemble?: false;
}

const CASES: Case[] = [
  {
    // 6×6 grid halves; merge_index 0 is also the only decoder feature layer; 6×6 → 12×6 position grid.
    name: 'h24/3 heads, patch 8, [96, 48], gelu_new, merge 0 = feature 0',
    raw: { hidden_size: 24, num_attention_heads: 3, mlp_dim: 40, patch_size: 8, image_size: [96, 48], pretrain_image_size: 48, num_hidden_layers: 3, merge_index: 0, intermediate_hidden_state_indices: [0], decoder_hidden_size: 5, layer_norm_eps: 1e-5, hidden_act: 'gelu_new' },
    weights: 'random',
  },
  {
    // merge_index is the last layer; no qkv bias; 4×4 → 8×6 position grid.
    name: 'h48/2 heads, patch 4, [32, 24], relu, no qkv_bias, merge = last layer',
    raw: { hidden_size: 48, num_attention_heads: 2, mlp_dim: 64, patch_size: 4, image_size: [32, 24], pretrain_image_size: 16, num_hidden_layers: 2, merge_index: 1, intermediate_hidden_state_indices: [1], decoder_hidden_size: 4, qkv_bias: false, hidden_act: 'relu' },
    weights: 'random',
  },
  {
    // Wide, short canvas; no relative positions; 10×10 position grid shrunk to 4×6; three decoder features.
    name: 'h16/4 heads, patch 16, [64, 96], quick_gelu, no rel-pos, features [1, 2, 3]',
    raw: { hidden_size: 16, num_attention_heads: 4, mlp_dim: 32, patch_size: 16, image_size: [64, 96], pretrain_image_size: 160, num_hidden_layers: 4, merge_index: 1, intermediate_hidden_state_indices: [1, 2, 3], decoder_hidden_size: 6, use_relative_position_embeddings: false, hidden_act: 'quick_gelu' },
    weights: 'random',
  },
  {
    // Square 8×8 grid equal to the pretraining grid: no position interpolation; 5 layers, merge 2.
    name: 'h24/2 heads, patch 8, [64, 64], silu, pretrain grid = grid, 5 layers',
    raw: { hidden_size: 24, num_attention_heads: 2, mlp_dim: 48, patch_size: 8, image_size: [64, 64], pretrain_image_size: 64, num_hidden_layers: 5, merge_index: 2, intermediate_hidden_state_indices: [2, 4], decoder_hidden_size: 5, layer_norm_eps: 1e-5, hidden_act: 'silu' },
    weights: 'random',
  },
  {
    // Odd half height (3 patch rows per image), one layer, neither qkv bias nor relative positions, mlp < hidden.
    name: 'h32/4 heads, patch 8, [48, 40], swish, 1 layer, bare attention',
    raw: { hidden_size: 32, num_attention_heads: 4, mlp_dim: 16, patch_size: 8, image_size: [48, 40], pretrain_image_size: 24, num_hidden_layers: 1, merge_index: 0, intermediate_hidden_state_indices: [0], decoder_hidden_size: 5, qkv_bias: false, use_relative_position_embeddings: false, hidden_act: 'swish' },
    weights: 'random',
  },
  {
    // 5 heads of 4 channels, 4×3 grid from a 2×2 position grid, every layer a decoder feature.
    name: 'h20/5 heads, patch 4, [16, 12], gelu_fast, features [0, 1, 2]',
    raw: { hidden_size: 20, num_attention_heads: 5, mlp_dim: 24, patch_size: 4, image_size: [16, 12], pretrain_image_size: 8, num_hidden_layers: 3, merge_index: 0, intermediate_hidden_state_indices: [0, 1, 2], decoder_hidden_size: 7, hidden_act: 'gelu_fast' },
    weights: 'random',
  },
  {
    // 4×2 grid from a 4×4 position grid (height kept, width shrunk); merge at the last of 4 layers.
    name: 'h24/3 heads, patch 16, [64, 32], gelu_pytorch_tanh, merge 3 of 4',
    raw: { hidden_size: 24, num_attention_heads: 3, mlp_dim: 48, patch_size: 16, image_size: [64, 32], pretrain_image_size: 64, num_hidden_layers: 4, merge_index: 3, intermediate_hidden_state_indices: [3], decoder_hidden_size: 8, hidden_act: 'gelu_pytorch_tanh' },
    weights: 'random',
  },
  {
    // One head, mlp_dim left to its default (4·hidden), synthetic-v1 weights as the benchmarks use them.
    name: 'h12/1 head, patch 4, [32, 32], gelu, synthetic-v1 weights',
    raw: { hidden_size: 12, num_attention_heads: 1, patch_size: 4, image_size: [32, 32], pretrain_image_size: 32, num_hidden_layers: 2, merge_index: 0, intermediate_hidden_state_indices: [0, 1], decoder_hidden_size: 5, layer_norm_eps: 1e-5, hidden_act: 'gelu' },
    weights: 'synthetic-v1',
  },
  {
    // Hugging Face's own SegGPT test configuration: image_size as one int, 15 patch rows (odd, so the mask token
    // starts mid-row at patch 225 // 2 and each image half ends mid-patch), mlp_ratio (a key SegGPT ignores).
    name: "HF's test config: image_size 30, patch 2, 15 patch rows, unknown mlp_ratio",
    raw: { hidden_size: 32, num_attention_heads: 4, patch_size: 2, image_size: 30, pretrain_image_size: 10, num_hidden_layers: 2, merge_index: 0, intermediate_hidden_state_indices: [1], decoder_hidden_size: 10, mlp_ratio: 2.0, hidden_act: 'gelu' },
    weights: 'random',
    featureEnsemble: false,
  },
];


/**
 * Random weights at scales that keep every path visible in the output: unit-variance linear maps, LayerNorm
 * gains 1 ± 0.3, biases ± 0.2, tokens and positions ± 0.8, rel-pos tables ± 0.5.
 */
function randomWeights(config: SegGPTConfigFields, seed: number): Record<string, { shape: number[]; values: Float32Array }> {
  const next = prng(seed);
  const u = () => next() * 2 - 1;
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  for (const { name, shape } of expectedTensors(config)) {
    const count = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const value = name.includes('layernorm') && name.endsWith('.weight') ? () => 1 + 0.3 * u()
      : name.endsWith('.bias') ? () => 0.2 * u()
      : name.includes('rel_pos') ? () => 0.5 * u()
      : name.endsWith('.weight') && shape.length >= 2 ? () => Math.sqrt(3 / fanIn) * u()
      : () => 0.8 * u();
    out[name] = { shape, values: Float32Array.from({ length: count }, value) };
  }
  return out;
}

async function writeCheckpoint(c: Case, config: SegGPTConfigFields, folder: string, seed: number): Promise<void> {
  if (c.weights === 'synthetic-v1') return writeSyntheticCheckpoint(config, folder);
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'config.json'), JSON.stringify(segGPTConfigToJSON(config)));
  writeFileSync(
    join(folder, 'preprocessor_config.json'),
    JSON.stringify({ ...SEGGPT_PREPROCESSOR_DEFAULTS, size: { height: config.image_size[0] / 2, width: config.image_size[1] } }),
  );
  writeF32Tensors(join(folder, 'model.safetensors'), randomWeights(config, seed));
}

interface Inputs {
  pixel_values: Float32Array;
  prompt_pixel_values: Float32Array;
  prompt_masks: Float32Array;
}

/** Normalised-image-like inputs in [−2, 2]; the masks take a few flat levels like a normalised class mask. */
function randomInputs(config: SegGPTConfigFields, batch: number, seed: number): Inputs {
  const next = prng(seed);
  const n = batch * 3 * (config.image_size[0] / 2) * config.image_size[1];
  return {
    pixel_values: Float32Array.from({ length: n }, () => 4 * next() - 2),
    prompt_pixel_values: Float32Array.from({ length: n }, () => 4 * next() - 2),
    prompt_masks: Float32Array.from({ length: n }, () => [-2, -0.5, 1, 2.2][Math.floor(next() * 4)]),
  };
}

function feeds(config: SegGPTConfigFields, batch: number, inputs: Inputs, embedding_type: EmbeddingType, feature_ensemble: boolean) {
  const dims = [batch, 3, config.image_size[0] / 2, config.image_size[1]];
  return {
    pixel_values: new ort.Tensor('float32', inputs.pixel_values, dims),
    prompt_pixel_values: new ort.Tensor('float32', inputs.prompt_pixel_values, dims),
    prompt_masks: new ort.Tensor('float32', inputs.prompt_masks, dims),
    embedding_type: new ort.Tensor('int64', BigInt64Array.of(embedding_type === 'semantic' ? 0n : 1n), [1]),
    feature_ensemble: new ort.Tensor('bool', Uint8Array.of(feature_ensemble ? 1 : 0), [1]),
  };
}

/** max |a − b| / max |b|, and max |b| itself. */
function relativeDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): { rel: number; scale: number } {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    const d = Math.abs(actual[i] - expected[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
  }
  return { rel: diff / scale, scale };
}

let work: string;
/** One line per (config, batch, embedding_type, feature_ensemble): printed with SEGGPT_REPORT=1. */
const report: string[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-any-config-'));
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  if (process.env.SEGGPT_REPORT) console.log(report.join('\n'));
});

test('the configs cover every supported activation', () => {
  const used = new Set(CASES.map((c) => c.raw.hidden_act));
  expect([...SUPPORTED_ACTIVATIONS].filter((a) => !used.has(a))).toEqual([]);
});

describe.each(CASES.map((c, k) => [c.name, c, k] as const))('%s', (_name, c, k) => {
  const config = parseSegGPTConfig(c.raw, c.name);
  let session: ort.InferenceSession;
  let decomposed: ort.InferenceSession;
  let weight: WeightGetter;
  let convertedFolder: string;

  beforeAll(async () => {
    const checkpoint = join(work, `checkpoint-${k}`);
    await writeCheckpoint(c, config, checkpoint, 1000 + k);
    const converted = await convertCheckpoint({ checkpoint, output: join(work, `onnx-${k}`), dtypes: 'fp32' });
    convertedFolder = converted.output;
    session = await ort.InferenceSession.create(join(converted.output, 'onnx', 'model.onnx'));
    const standard = await convertCheckpoint({ checkpoint, output: join(work, `onnx-${k}-decomposed`), dtypes: 'fp32', attention: 'decomposed' });
    decomposed = await ort.InferenceSession.create(join(standard.output, 'onnx', 'model.onnx'));
    weight = await loadCheckpointWeights(checkpoint);
  });

  afterAll(async () => {
    await session?.release();
    await decomposed?.release();
  });

  test.each([1, 2, 3])('batch %i: pred_masks and last_hidden_state match the reference (semantic/instance × ensemble on/off, both attention forms)', async (batch) => {
    const [gh, gw] = [config.image_size[0] / config.patch_size, config.image_size[1] / config.patch_size];
    const inputs = randomInputs(config, batch, 7 * k + batch);
    for (const embedding_type of ['semantic', 'instance'] as const) {
      for (const feature_ensemble of c.featureEnsemble === false ? [false] : [false, true]) {
        const ref = referenceForward(config, weight, { ...inputs, embedding_type, feature_ensemble });
        for (const [form, model] of [['fused', session], ['decomposed', decomposed]] as const) {
          const out = await model.run(feeds(config, batch, inputs, embedding_type, feature_ensemble));
          expect(out.pred_masks.dims).toEqual([batch, 3, ...config.image_size]);
          expect(out.last_hidden_state.dims).toEqual([batch, gh, gw, config.hidden_size]);
          const masks = relativeDiff(out.pred_masks.data as Float32Array, ref.pred_masks);
          const hidden = relativeDiff(out.last_hidden_state.data as Float32Array, ref.last_hidden_state);
          report.push(
            `${c.name} | ${form} B=${batch} ${embedding_type} fe=${feature_ensemble} | pred_masks max|v| ${masks.scale.toFixed(2)} rel ${masks.rel.toExponential(1)}` +
              ` | last_hidden_state max|v| ${hidden.scale.toFixed(2)} rel ${hidden.rel.toExponential(1)}`,
          );
          expect(masks.scale).toBeGreaterThan(0.1); // not a degenerate all-zero output
          expect(masks.rel).toBeLessThan(RELATIVE_TOLERANCE);
          expect(hidden.rel).toBeLessThan(RELATIVE_TOLERANCE);
        }
      }
    }
  });

  test('the comparison is sensitive: embedding type and feature ensemble change the reference far beyond the tolerance', () => {
    const inputs = randomInputs(config, 2, 99);
    const base = referenceForward(config, weight, { ...inputs, embedding_type: 'semantic', feature_ensemble: false });
    const other = referenceForward(config, weight, { ...inputs, embedding_type: 'instance', feature_ensemble: false });
    expect(relativeDiff(other.pred_masks, base.pred_masks).rel).toBeGreaterThan(100 * RELATIVE_TOLERANCE);
    if (c.featureEnsemble === false) return;
    const ensembled = referenceForward(config, weight, { ...inputs, embedding_type: 'semantic', feature_ensemble: true });
    expect(relativeDiff(ensembled.pred_masks, base.pred_masks).rel).toBeGreaterThan(100 * RELATIVE_TOLERANCE);
  });
});

describe('a checkpoint with an odd number of patch rows', () => {
  const k = CASES.findIndex((c) => c.featureEnsemble === false);
  const config = parseSegGPTConfig(CASES[k].raw);
  let model: SegGPTForImageSegmentation;

  beforeAll(async () => {
    const checkpoint = join(work, 'odd-rows-checkpoint');
    await writeCheckpoint(CASES[k], config, checkpoint, 1000 + k);
    const converted = await convertCheckpoint({ checkpoint, output: join(work, 'odd-rows-onnx'), dtypes: 'fp32' });
    model = await SegGPTForImageSegmentation.from_pretrained(converted.output, { device: 'cpu', dtype: 'fp32' });
  });

  afterAll(async () => {
    await model?.dispose();
  });

  function modelInputs(batch: number) {
    const dims = [batch, 3, config.image_size[0] / 2, config.image_size[1]];
    const inputs = randomInputs(config, batch, 5);
    return {
      pixel_values: new Tensor('float32', inputs.pixel_values, dims),
      prompt_pixel_values: new Tensor('float32', inputs.prompt_pixel_values, dims),
      prompt_masks: new Tensor('float32', inputs.prompt_masks, dims),
    };
  }

  test('runs through the model class without feature_ensemble, matching the reference', async () => {
    const inputs = modelInputs(2);
    const { pred_masks } = await model(inputs, { embedding_type: 'semantic' });
    const ref = referenceForward(config, await loadCheckpointWeights(join(work, 'odd-rows-checkpoint')), {
      pixel_values: inputs.pixel_values.data as Float32Array,
      prompt_pixel_values: inputs.prompt_pixel_values.data as Float32Array,
      prompt_masks: inputs.prompt_masks.data as Float32Array,
      embedding_type: 'semantic',
      feature_ensemble: false,
    });
    expect(relativeDiff(pred_masks.data as Float32Array, ref.pred_masks).rel).toBeLessThan(RELATIVE_TOLERANCE);
  });

  test('feature_ensemble, which the reference cannot run on odd rows, is refused at the call with the reason', async () => {
    const attempt = model(modelInputs(1), { feature_ensemble: true });
    await expect(attempt).rejects.toBeInstanceOf(InputError);
    await expect(attempt).rejects.toThrow(/feature_ensemble needs an even number of patch rows.*has 15 \(image_size\[0\] 30 \/ patch_size 2\)/);
  });
});

describe('invalid configs', () => {
  test.each([
    ['a decoder feature layer before merge_index', { num_hidden_layers: 3, merge_index: 1, intermediate_hidden_state_indices: [0, 2] }, /intermediate_hidden_state_indices.*merge_index/],
    ['an activation the converter cannot emit', { hidden_act: 'mish' }, /hidden_act.*mish/],
    ['an odd canvas height, which cannot hold two equal images', { image_size: [45, 50], patch_size: 5, pretrain_image_size: 50 }, /image_size.*\[0\] = 45 must be even/],
  ])('%s is refused with SegGPTConfigError', async (_what, overrides, message) => {
    const folder = join(work, `invalid-${Object.keys(overrides).join('-')}`);
    mkdirSync(folder, { recursive: true });
    const raw = { ...CASES[0].raw, ...overrides, model_type: 'seggpt' };
    writeFileSync(join(folder, 'config.json'), JSON.stringify(raw));
    writeFileSync(join(folder, 'preprocessor_config.json'), JSON.stringify({ ...SEGGPT_PREPROCESSOR_DEFAULTS, size: { height: 48, width: 48 } }));
    const attempt = convertCheckpoint({ checkpoint: folder, output: join(folder, 'out'), dtypes: 'fp32' });
    await expect(attempt).rejects.toBeInstanceOf(SegGPTConfigError);
    await expect(attempt).rejects.toThrow(message);
  });
});

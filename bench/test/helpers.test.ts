/** The small pieces the full-size benchmark relies on, checked on the tiny fixtures. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { segGPTFlops } from '../flops.js';
import { binariseAnswer, compareMasks } from '../masks.js';
import { countOpTypes, readOnnxNodes } from '../../dev/onnx_nodes.js';
import { nodePattern } from '../profile_trace.js';
import { withForeignSections } from '../report.js';
import { ensureSyntheticCheckpoint } from '../../dev/synthetic_cache.js';
import { convertCheckpoint } from '../../src/conversion/node/convert.js';
import { parseSegGPTConfig } from '../../src/configs/seggpt_config_fields.js';
import { TINY, VIT_L, tinyCases } from '../../test/support/fixtures.js';
import { readNpy } from '../../dev/npy.js';

const caseOne = tinyCases().find((c) => c.name === '01_single_binary_semantic')!;
const preprocessor = JSON.parse(readFileSync(join(TINY, 'preprocessor_config.json'), 'utf8'));

describe('binariseAnswer', () => {
  test('matches the reference post-processing (grey level ≥ 128) of case 01', () => {
    const pred = readNpy(join(caseOne.dir, 'pred_masks.npy'));
    const bits = binariseAnswer(pred.data as Float32Array, pred.shape, preprocessor.image_mean, preprocessor.image_std);
    const [, , fullHeight, width] = pred.shape;
    const height = fullHeight / 2;
    // The reference resized the grey map to the original size with torch 'nearest': src = floor(dst·in/out).
    const segmentation = readNpy(join(caseOne.dir, 'segmentation_0.npy'));
    const [outH, outW] = segmentation.shape;
    const values = segmentation.data as BigInt64Array;
    let agree = 0;
    for (let y = 0; y < outH; y++) {
      for (let x = 0; x < outW; x++) {
        const sy = Math.floor((y * height) / outH);
        const sx = Math.floor((x * width) / outW);
        if (bits[sy * width + sx] === (values[y * outW + x] >= 128n ? 1 : 0)) agree++;
      }
    }
    expect(agree).toBe(outH * outW);
    // Both classes occur, so the check is not vacuous.
    expect(bits.some((b) => b === 1) && bits.some((b) => b === 0)).toBe(true);
  });

  test('compareMasks: identical masks agree fully, a flipped pixel is counted', () => {
    const pred = readNpy(join(caseOne.dir, 'pred_masks.npy'));
    const a = pred.data as Float32Array;
    const same = compareMasks(a, a, pred.shape, preprocessor.image_mean, preprocessor.image_std);
    expect(same).toEqual({ max_abs: 0, mean_abs: 0, binary_agreement: 1 });
    const b = a.slice();
    const [, , fullHeight, width] = pred.shape;
    const answerStart = (fullHeight / 2) * width;
    // Push the first answer pixel to the other side of the threshold: far below black or far above white.
    const wasForeground = binariseAnswer(a, pred.shape, preprocessor.image_mean, preprocessor.image_std)[0] === 1;
    for (let c = 0; c < 3; c++) b[c * fullHeight * width + answerStart] = wasForeground ? -20 : 20;
    const diff = compareMasks(b, a, pred.shape, preprocessor.image_mean, preprocessor.image_std);
    expect(diff.binary_agreement).toBeCloseTo(1 - 1 / ((fullHeight / 2) * width), 12);
    expect(diff.max_abs).toBeGreaterThan(10);
  });
});

describe('segGPTFlops', () => {
  test('ViT-L, one prompt: the encoder Linear FLOPs follow from the stream schedule', () => {
    const config = parseSegGPTConfig(JSON.parse(readFileSync(join(VIT_L, 'config.json'), 'utf8')));
    const f = segGPTFlops(config, 1);
    // 56×28 patches; layers 0..2 carry both streams (batch 2), layers 3..23 one (merge after layer 2).
    const tokenLayers = 3 * 2 * 1568 + 21 * 1568;
    expect(f.linear).toBe(tokenLayers * 24 * 1024 * 1024);
    expect(f.total).toBe(f.patch_embed + f.linear + f.attention + f.rel_pos + f.decoder);
    expect(f.total / 1e12).toBeGreaterThan(1.5);
    expect(f.total / 1e12).toBeLessThan(1.7);
  });
});

describe('onnx node scan and trace patterns', () => {
  let work: string;
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'seggpt-bench-helpers-'));
    await convertCheckpoint({ checkpoint: TINY, output: join(work, 'tiny') });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  test('readOnnxNodes finds the converted graph’s nodes, named after the module tree', () => {
    const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
    const nodes = readOnnxNodes(join(work, 'tiny', 'onnx', 'model.onnx'));
    const counts = new Map(countOpTypes(nodes));
    // fp32 LayerNormalization: one before and one after attention per layer, the encoder's final one per
    // decoder feature (possibly shared) and the decoder's.
    expect(counts.get('LayerNormalization')).toBeGreaterThanOrEqual(2 * config.num_hidden_layers + 2);
    expect(counts.get('com.microsoft:MultiHeadAttention')).toBe(config.num_hidden_layers); // the default attention form: one per layer
    expect(nodes.some((n) => n.name.startsWith('model.encoder.layers.0.'))).toBe(true);
  });

  test('nodePattern folds layer numbers', () => {
    expect(nodePattern('model.encoder.layers.17.attention.qkv')).toBe('model.encoder.layers.N.attention.qkv');
    expect(nodePattern('decoder.decoder_embed')).toBe('decoder.decoder_embed');
  });
});

describe('ensureSyntheticCheckpoint cache', () => {
  let root: string;
  const previous = process.env.SEGGPT_BENCH_CACHE;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'seggpt-cache-test-'));
    process.env.SEGGPT_BENCH_CACHE = root;
  });
  afterAll(() => {
    if (previous === undefined) delete process.env.SEGGPT_BENCH_CACHE;
    else process.env.SEGGPT_BENCH_CACHE = previous;
    rmSync(root, { recursive: true, force: true });
  });

  test('builds once, reuses a complete entry, rebuilds a damaged one', async () => {
    const first = await ensureSyntheticCheckpoint(TINY);
    expect(first.built).toBe(true);
    const weights = join(first.folder, 'model.safetensors');
    const original = readFileSync(weights);
    expect(JSON.parse(readFileSync(join(first.folder, 'config.json'), 'utf8')).hidden_size).toBe(
      JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')).hidden_size,
    );

    const second = await ensureSyntheticCheckpoint(TINY);
    expect(second).toMatchObject({ folder: first.folder, built: false });

    truncateSync(weights, statSync(weights).size - 4);
    const third = await ensureSyntheticCheckpoint(TINY);
    expect(third.built).toBe(true);
    expect(readFileSync(weights).equals(original)).toBe(true);
    expect(readdirSync(root).filter((n) => n.startsWith('.partial-'))).toEqual([]);
  });
});

describe('withForeignSections', () => {
  test('a rewritten BENCHMARKS.md keeps the sections other benchmarks own, and only those', () => {
    const browser = '<!-- bench:browser start -->\n## Browser\n| a |\n<!-- bench:browser end -->';
    const previous = `# Benchmarks\n\nold numbers\n\n${browser}\n`;
    const updated = withForeignSections('# Benchmarks\n\nnew numbers\n', previous);
    expect(updated).toBe(`# Benchmarks\n\nnew numbers\n\n${browser}\n`);
    expect(withForeignSections('# Benchmarks\n', undefined)).toBe('# Benchmarks\n');
    expect(withForeignSections('# Benchmarks\n', '# Benchmarks\n\nold\n')).toBe('# Benchmarks\n');
  });
});

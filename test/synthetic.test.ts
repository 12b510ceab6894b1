import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCheckpointTensors, expectedTensors } from '../src/conversion/checkpoint_layout.js';
import { openSafetensorsFile } from '../src/conversion/node/files.js';
import { fillSynthetic, fillSyntheticRange, fnv1a32 } from '../src/conversion/synthetic.js';
import { writeSyntheticCheckpoint } from '../src/conversion/node/synthetic.js';
import { parseSegGPTConfig } from '../src/configs/seggpt_config.js';
import { parseSegGPTPreprocessorConfig } from '../src/configs/seggpt_preprocessor_config.js';
import { TINY, VIT_L } from './support/fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'seggpt-synthetic-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const readJson = (path: string): any => JSON.parse(readFileSync(path, 'utf8'));
const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

describe('fnv1a32', () => {
  it('matches the published FNV-1a 32-bit test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes UTF-8 bytes, not UTF-16 code units', () => {
    // "é" is the two bytes C3 A9 in UTF-8; hashing them one by one must give the same value.
    let h = 0x811c9dc5;
    for (const byte of [0xc3, 0xa9]) h = Number((BigInt((h ^ byte) >>> 0) * 0x01000193n) % 2n ** 32n);
    expect(fnv1a32('é')).toBe(h);
  });
});

describe('fillSynthetic reproduces tensors.json of the ViT-L synthetic fixture', () => {
  const reference = readJson(join(VIT_L, 'tensors.json'));
  const tensors = Object.entries(reference.tensors) as [string, { shape: number[]; sum: number; sum_sq: number; first: number[] }][];

  it('is the synthetic-v1 generator', () => {
    expect(reference.generator).toMatch(/^synthetic-v1/);
  });

  it('for every tensor: shape, first values exactly, sum and sum of squares', () => {
    const config = parseSegGPTConfig(readJson(join(VIT_L, 'config.json')));
    const layout = expectedTensors(config);
    expect(layout.map((t) => t.name)).toEqual(tensors.map(([name]) => name));

    const buffer = new Float32Array(Math.max(...layout.map((t) => count(t.shape))));
    const failures: string[] = [];
    let values = 0;
    for (const [k, [name, ref]] of tensors.entries()) {
      const { shape } = layout[k];
      if (shape.join() !== ref.shape.join()) failures.push(`${name}: shape ${shape} != ${ref.shape}`);
      const out = buffer.subarray(0, count(shape));
      fillSynthetic(name, shape, out);
      let sum = 0;
      let sumSq = 0;
      let sumAbs = 0;
      for (let i = 0; i < out.length; i++) {
        const v = out[i];
        sum += v;
        sumSq += v * v;
        sumAbs += Math.abs(v);
      }
      ref.first.forEach((v, i) => {
        if (out[i] !== v) failures.push(`${name}[${i}] = ${out[i]}, expected ${v}`);
      });
      // float64 sums in another order differ by rounding only: ~1e-12 of Σ|x| here; 1e-9 leaves a wide margin.
      if (Math.abs(sum - ref.sum) > 1e-9 * sumAbs) failures.push(`${name}: sum ${sum}, expected ${ref.sum}`);
      if (Math.abs(sumSq - ref.sum_sq) > 1e-9 * ref.sum_sq) failures.push(`${name}: sum_sq ${sumSq}, expected ${ref.sum_sq}`);
      values += out.length;
    }
    expect(failures).toEqual([]);
    expect(values).toBeGreaterThan(370_000_000);
  });
});

describe('fillSynthetic / fillSyntheticRange', () => {
  it('gives the same values chunk by chunk as in one piece', () => {
    const name = 'model.encoder.layers.0.mlp.lin1.weight';
    const shape = [64, 32];
    const whole = new Float32Array(count(shape));
    fillSynthetic(name, shape, whole);
    const pieces = new Float32Array(whole.length);
    for (let start = 0; start < whole.length; start += 300) {
      fillSyntheticRange(name, shape, start, pieces.subarray(start, Math.min(whole.length, start + 300)));
    }
    expect(pieces).toEqual(whole);
  });

  it('fills only the tensor in a larger buffer and refuses a smaller one', () => {
    const out = new Float32Array(10).fill(7);
    fillSynthetic('decoder.decoder_pred.head.bias', [3], out);
    expect([...out.subarray(3)]).toEqual([7, 7, 7, 7, 7, 7, 7]);
    expect(() => fillSynthetic('decoder.decoder_pred.head.bias', [3], new Float32Array(2))).toThrow(RangeError);
    expect(() => fillSyntheticRange('decoder.decoder_pred.head.bias', [3], 2, new Float32Array(2))).toThrow(RangeError);
  });

  it('keeps every value in its documented range', () => {
    const cases: [string, number[], number, number][] = [
      ['model.encoder.layernorm.weight', [500], 0.9, 1.1],
      ['model.encoder.layers.0.attention.proj.bias', [500], -0.02, 0.02],
      ['model.encoder.layers.0.attention.rel_pos_h', [15, 8], -0.1, 0.1],
      ['model.encoder.layers.0.attention.qkv.weight', [96, 32], -Math.sqrt(3 / 32), Math.sqrt(3 / 32)],
      ['model.embeddings.mask_token', [1, 1, 1, 500], -0.5, 0.5],
    ];
    for (const [name, shape, lo, hi] of cases) {
      const out = new Float32Array(count(shape));
      fillSynthetic(name, shape, out);
      expect(Math.min(...out), name).toBeGreaterThanOrEqual(Math.fround(lo));
      expect(Math.max(...out), name).toBeLessThan(Math.fround(hi));
    }
  });
});

describe('writeSyntheticCheckpoint', () => {
  it.each([
    ['tiny config', {}],
    ['no qkv bias, no relative positions', { qkv_bias: false, use_relative_position_embeddings: false }],
  ])('round-trips a small checkpoint (%s)', async (_, patch) => {
    const config = parseSegGPTConfig({ ...readJson(join(TINY, 'config.json')), ...patch });
    const folder = join(tmp, `ckpt-${Object.keys(patch).length}`);
    const progress: [number, number][] = [];
    await writeSyntheticCheckpoint(config, folder, { onProgress: (done, total) => progress.push([done, total]) });

    expect(readdirSync(folder).sort()).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json']);
    expect(parseSegGPTConfig(readJson(join(folder, 'config.json')))).toEqual(config);
    const preprocessor = parseSegGPTPreprocessorConfig(readJson(join(folder, 'preprocessor_config.json')));
    expect(preprocessor.size).toEqual({ height: config.image_size[0] / 2, width: config.image_size[1] });
    expect(preprocessor).toEqual(parseSegGPTPreprocessorConfig(readJson(join(TINY, 'preprocessor_config.json'))));

    const path = join(folder, 'model.safetensors');
    const bytes = readFileSync(path);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
    expect(progress.at(-1)).toEqual([bytes.length, bytes.length]);

    const file = await openSafetensorsFile(path);
    try {
      expect(file.metadata).toEqual({ format: 'pt' });
      const layout = expectedTensors(config);
      expect([...file.tensors.keys()]).toEqual(layout.map((t) => t.name));
      expect(checkCheckpointTensors(file, config)).toEqual([]);
      for (const { name, shape } of layout) {
        expect(file.info(name).dtype).toBe('F32');
        const expected = new Float32Array(count(shape));
        fillSynthetic(name, shape, expected);
        const read = await file.readFloat32(name);
        expect(read.length, name).toBe(expected.length);
        expect(read.every((v, i) => v === expected[i]), name).toBe(true);
      }
    } finally {
      await file.close();
    }
  });

  it('writes the given preprocessor config', async () => {
    const config = parseSegGPTConfig(readJson(join(TINY, 'config.json')));
    const folder = join(tmp, 'custom-preprocessor');
    await writeSyntheticCheckpoint(config, folder, { preprocessor: { size: { height: 32, width: 48 }, do_convert_rgb: false } });
    const written = readJson(join(folder, 'preprocessor_config.json'));
    expect(written.size).toEqual({ height: 32, width: 48 });
    expect(written.do_convert_rgb).toBe(false);
    expect(written.image_processor_type).toBe('SegGptImageProcessor');
  });
});

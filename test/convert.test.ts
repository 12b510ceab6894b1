import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { main } from '../cli/main.js';
import { absDiff, readNpy } from '../dev/npy.js';
import { readOnnxNodes } from '../dev/onnx_nodes.js';
import { TINY, tinyCases } from './support/fixtures.js';
import { tinyCaseFeeds } from './support/onnx_run.js';
import { safetensorsBytes } from './support/safetensors.js';

/** The reference's fp32 vs fp64 spread is ~1e-5 on these magnitudes (fixture README); 1e-4 is the agreed bound. */
const PRED_MASKS_TOLERANCE = 1e-4;

let work: string;
let converted: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-convert-'));
  converted = join(work, 'tiny-onnx');
  await convertCheckpoint({ checkpoint: TINY, output: converted });
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('converted tiny checkpoint', () => {
  test('is laid out as a Transformers.js repo', () => {
    expect(readdirSync(converted).sort()).toEqual(['config.json', 'onnx', 'preprocessor_config.json']);
    expect(readdirSync(join(converted, 'onnx'))).toEqual(['model.onnx']);
    const config = JSON.parse(readFileSync(join(converted, 'config.json'), 'utf8'));
    const original = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
    for (const key of ['hidden_size', 'num_hidden_layers', 'image_size', 'merge_index', 'intermediate_hidden_state_indices', 'model_type']) {
      expect(config[key]).toEqual(original[key]);
    }
    expect(config['transformers.js_config']).toEqual({ dtype: 'fp32' });
    const processor = JSON.parse(readFileSync(join(converted, 'preprocessor_config.json'), 'utf8'));
    expect(processor.image_processor_type).toBe('SegGptImageProcessor');
    expect(processor.size).toEqual({ height: 64, width: 64 });
  });

  test('declares the documented inputs and outputs', async () => {
    const session = await ort.InferenceSession.create(join(converted, 'onnx', 'model.onnx'));
    expect([...session.inputNames].sort()).toEqual(['embedding_type', 'feature_ensemble', 'pixel_values', 'prompt_masks', 'prompt_pixel_values']);
    expect([...session.outputNames].sort()).toEqual(['last_hidden_state', 'pred_masks']);
    await session.release();
  });

  test.each(tinyCases().map((c) => [c.name, c] as const))('%s: pred_masks match the reference', async (_name, c) => {
    const session = await ort.InferenceSession.create(join(converted, 'onnx', 'model.onnx'));
    const out = await session.run(tinyCaseFeeds(c) as unknown as ort.InferenceSession.FeedsType);
    const expected = readNpy(join(c.dir, 'pred_masks.npy'));
    expect(out.pred_masks.dims).toEqual(expected.shape);
    const diff = absDiff(out.pred_masks.data as Float32Array, expected.data as Float32Array);
    expect(diff.max).toBeLessThan(PRED_MASKS_TOLERANCE);
    await session.release();
  });

  test('last_hidden_state is the merged encoder output (its LayerNorm is the last decoder feature)', async () => {
    const c = tinyCases().find((x) => x.name.startsWith('01'))!;
    const session = await ort.InferenceSession.create(join(converted, 'onnx', 'model.onnx'));
    const out = await session.run(tinyCaseFeeds(c) as unknown as ort.InferenceSession.FeedsType);
    const hidden = out.last_hidden_state;
    const config = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
    const C = config.hidden_size;
    expect(hidden.dims).toEqual([1, config.image_size[0] / config.patch_size, config.image_size[1] / config.patch_size, C]);
    // The last intermediate index is the last layer, so the decoder input's last C channels are
    // encoder.layernorm(last_hidden_state): recompute that LayerNorm here in float64.
    expect(config.intermediate_hidden_state_indices.at(-1)).toBe(config.num_hidden_layers - 1);
    const { openSafetensorsFile } = await import('../src/conversion/node/files.js');
    const st = await openSafetensorsFile(join(TINY, 'model.safetensors'));
    const gamma = await st.readFloat32('model.encoder.layernorm.weight');
    const beta = await st.readFloat32('model.encoder.layernorm.bias');
    await st.close();
    const features = readNpy(join(c.dir, 'intermediate_hidden_states.npy'));
    const width = features.shape[3];
    const h = hidden.data as Float32Array;
    let maxDiff = 0;
    for (let t = 0; t < h.length / C; t++) {
      let mean = 0;
      for (let i = 0; i < C; i++) mean += h[t * C + i];
      mean /= C;
      let variance = 0;
      for (let i = 0; i < C; i++) variance += (h[t * C + i] - mean) ** 2;
      variance /= C;
      for (let i = 0; i < C; i++) {
        const normed = ((h[t * C + i] - mean) / Math.sqrt(variance + config.layer_norm_eps)) * gamma[i] + beta[i];
        const expected = (features.data as Float32Array)[t * width + width - C + i];
        maxDiff = Math.max(maxDiff, Math.abs(normed - expected));
      }
    }
    expect(maxDiff).toBeLessThan(1e-4);
    await session.release();
  });

  test('external data gives the same model', async () => {
    const out = join(work, 'tiny-external');
    const result = await convertCheckpoint({ checkpoint: TINY, output: out, external_data: true });
    expect(result.variants[0].external_data).toBe(true);
    expect(existsSync(join(out, 'onnx', 'model.onnx_data'))).toBe(true);
    expect(statSync(join(out, 'onnx', 'model.onnx')).size).toBeLessThan(statSync(join(out, 'onnx', 'model.onnx_data')).size);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config['transformers.js_config'].use_external_data_format).toEqual({ 'model.onnx': 1 });
    const c = tinyCases()[3];
    const session = await ort.InferenceSession.create(join(out, 'onnx', 'model.onnx'));
    const res = await session.run(tinyCaseFeeds(c) as unknown as ort.InferenceSession.FeedsType);
    const expected = readNpy(join(c.dir, 'pred_masks.npy'));
    expect(absDiff(res.pred_masks.data as Float32Array, expected.data as Float32Array).max).toBeLessThan(PRED_MASKS_TOLERANCE);
    await session.release();
  });

  test('refuses to overwrite an existing folder unless asked', async () => {
    await expect(convertCheckpoint({ checkpoint: TINY, output: converted })).rejects.toThrow(/already exists.*--overwrite/);
    const result = await convertCheckpoint({ checkpoint: TINY, output: converted, overwrite: true });
    expect(result.output).toBe(converted);
    expect(readdirSync(work).filter((n) => n.includes('.partial-'))).toEqual([]);
  });
});

describe('seggpt convert on bad checkpoints', () => {
  /** A copy of the tiny checkpoint with its weights file replaced or edited. */
  function brokenCheckpoint(name: string, edit: (dir: string) => void): string {
    const dir = join(work, `broken-${name}`);
    mkdirSync(dir);
    for (const f of ['config.json', 'preprocessor_config.json', 'model.safetensors']) copyFileSync(join(TINY, f), join(dir, f));
    edit(dir);
    return dir;
  }

  async function runCli(args: string[]): Promise<{ code: number; stderr: string }> {
    let stderr = '';
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    }) as typeof process.stderr.write;
    try {
      const code = await main(args);
      return { code, stderr };
    } finally {
      process.stderr.write = write;
    }
  }

  const tinyHeader = () => {
    const buf = readFileSync(join(TINY, 'model.safetensors'));
    const n = Number(buf.readBigUInt64LE(0));
    return { header: JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, any>, data: buf.subarray(8 + n) };
  };

  const cases: [string, (dir: string) => void, RegExp][] = [
    ['truncated', (d) => truncateSync(join(d, 'model.safetensors'), statSync(join(d, 'model.safetensors')).size - 100), /model\.safetensors/],
    ['header-past-eof', (d) => writeFileSync(join(d, 'model.safetensors'), safetensorsBytes({}, new Uint8Array(0), 10_000n)), /header/i],
    [
      'offsets-out-of-range',
      (d) => {
        const { header, data } = tinyHeader();
        header['decoder.decoder_pred.head.bias'].data_offsets[1] += 4096;
        writeFileSync(join(d, 'model.safetensors'), safetensorsBytes(header, data));
      },
      /decoder\.decoder_pred\.head\.bias|offset/i,
    ],
    [
      'overlapping',
      (d) => {
        const { header, data } = tinyHeader();
        const names = Object.keys(header).filter((k) => k !== '__metadata__');
        header[names[1]].data_offsets = [...header[names[0]].data_offsets];
        writeFileSync(join(d, 'model.safetensors'), safetensorsBytes(header, data));
      },
      /overlap|gap|offset/i,
    ],
    [
      'unknown-dtype',
      (d) => {
        const { header, data } = tinyHeader();
        header['model.embeddings.mask_token'].dtype = 'I64';
        writeFileSync(join(d, 'model.safetensors'), safetensorsBytes(header, data));
      },
      /I64/,
    ],
    [
      'missing-tensor',
      (d) => {
        const { header, data } = tinyHeader();
        const [begin, end] = header['decoder.decoder_pred.head.bias'].data_offsets;
        expect(end).toBe(data.length); // the last tensor: dropping it keeps the file well-formed
        delete header['decoder.decoder_pred.head.bias'];
        writeFileSync(join(d, 'model.safetensors'), safetensorsBytes(header, data.subarray(0, begin)));
      },
      /decoder\.decoder_pred\.head\.bias/,
    ],
    [
      'misshaped-tensor',
      (d) => {
        const { header, data } = tinyHeader();
        const entry = header['model.encoder.layers.0.mlp.lin1.weight'];
        entry.shape = [entry.shape[1], entry.shape[0]];
        writeFileSync(join(d, 'model.safetensors'), safetensorsBytes(header, data));
      },
      /model\.encoder\.layers\.0\.mlp\.lin1\.weight/,
    ],
    [
      'bad-config',
      (d) => {
        const config = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8'));
        config.merge_index = 9;
        writeFileSync(join(d, 'config.json'), JSON.stringify(config));
      },
      /merge_index/,
    ],
    ['no-weights', (d) => rmSync(join(d, 'model.safetensors')), /model\.safetensors/],
    ['no-config', (d) => rmSync(join(d, 'config.json')), /config\.json/],
  ];

  test.each(cases)('%s: one clear line, exit code 1, no output folder', async (name, edit, message) => {
    const dir = brokenCheckpoint(name, edit);
    const output = join(work, `out-${name}`);
    const { code, stderr } = await runCli(['convert', dir, '--output', output]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: /);
    expect(stderr).toMatch(message);
    expect(stderr.trim().split('\n')).toHaveLength(1); // no stack trace
    expect(existsSync(output)).toBe(false);
    expect(readdirSync(work).filter((n) => n.includes('.partial-'))).toEqual([]);
  });

  test('unknown dtype names the valid ones', async () => {
    const { code, stderr } = await runCli(['convert', TINY, '--output', join(work, 'never'), '--dtype', 'fp8']);
    expect(code).toBe(1);
    expect(stderr).toMatch(/unknown dtype "fp8".*fp32.*fp16/);
  });
});

describe('attention forms', () => {
  test("'fused' writes one com.microsoft MultiHeadAttention per layer and 'decomposed' standard ops only; both give the reference on every case", async () => {
    const layers = JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')).num_hidden_layers as number;
    const decomposed = join(work, 'tiny-decomposed');
    await convertCheckpoint({ checkpoint: TINY, output: decomposed, attention: 'decomposed' });
    const nodesOf = (folder: string) => readOnnxNodes(join(folder, 'onnx', 'model.onnx'));
    const fusedNodes = nodesOf(converted);
    expect(fusedNodes.filter((n) => n.op_type === 'MultiHeadAttention' && n.domain === 'com.microsoft')).toHaveLength(layers);
    expect(fusedNodes.filter((n) => n.op_type === 'Softmax')).toHaveLength(0);
    const standardNodes = nodesOf(decomposed);
    expect(standardNodes.filter((n) => n.domain !== '' && n.domain !== 'ai.onnx')).toEqual([]);
    expect(standardNodes.filter((n) => n.op_type === 'Softmax')).toHaveLength(layers);
    for (const folder of [converted, decomposed]) {
      const session = await ort.InferenceSession.create(join(folder, 'onnx', 'model.onnx'));
      for (const c of tinyCases()) {
        const res = await session.run(tinyCaseFeeds(c) as unknown as ort.InferenceSession.FeedsType);
        const expected = readNpy(join(c.dir, 'pred_masks.npy'));
        expect(absDiff(res.pred_masks.data as Float32Array, expected.data as Float32Array).max, `${folder} ${c.name}`).toBeLessThan(PRED_MASKS_TOLERANCE);
      }
      await session.release();
    }
  });

  test('an unknown attention form is refused, naming the valid ones (JS and CLI)', async () => {
    await expect(convertCheckpoint({ checkpoint: TINY, output: join(work, 'never'), attention: 'flash' as never })).rejects.toThrow(/attention must be one of fused, decomposed/);
    expect(existsSync(join(work, 'never'))).toBe(false);
  });
});

/**
 * `seggpt convert` never loses the user's data, never leaves half a result, refuses hostile configs before allocating,
 * and never turns broken weights into a silently broken model.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { parseSegGPTConfig, SEGGPT_CONFIG_LIMITS } from '../src/configs/seggpt_config_fields.js';
import { CheckpointError, InputError, SegGPTConfigError } from '../src/errors.js';
import { TINY } from './support/fixtures.js';
import { readAllF32, writeF32Tensors } from './support/safetensors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
let work: string;
const tinyConfig = () => JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
const staged = (parent: string) => readdirSync(parent).filter((n) => n.includes('.partial-'));

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-convert-safety-'));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A copy of seggpt-tiny whose weights were changed by `edit` (name → values, edited in place). */
function editedCheckpoint(name: string, edit: (tensors: Map<string, { shape: number[]; values: Float32Array }>) => void): string {
  const folder = join(work, name);
  mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'preprocessor_config.json']) cpSync(join(TINY, f), join(folder, f));
  const tensors = new Map([...readAllF32(join(TINY, 'model.safetensors'))].map(([k, v]) => [k, { shape: v.shape, values: Float32Array.from(v.values) }]));
  edit(tensors);
  writeF32Tensors(join(folder, 'model.safetensors'), Object.fromEntries(tensors));
  return folder;
}

describe('the output folder', () => {
  test('a folder that appears at --output while converting is left as it is, with the user\'s files', async () => {
    const parent = join(work, 'appear');
    const output = join(parent, 'out');
    const error = await convertCheckpoint({
      checkpoint: TINY,
      output,
      onProgress: (e) => {
        if (e.stage === 'build') {
          mkdirSync(output, { recursive: true });
          writeFileSync(join(output, 'notes.txt'), 'keep');
        }
      },
    }).catch((e) => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(/appeared while converting/);
    expect(readdirSync(output)).toEqual(['notes.txt']);
    expect(readFileSync(join(output, 'notes.txt'), 'utf8')).toBe('keep');
    expect(staged(parent)).toEqual([]);
  });

  test('two conversions into one new folder: one writes it, the other says so, nothing is lost or left', async () => {
    const parent = join(work, 'race');
    const output = join(parent, 'out');
    const results = await Promise.allSettled([1, 2].map(() => convertCheckpoint({ checkpoint: TINY, output, dtypes: 'fp32,q8' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const failed = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(failed.reason).toBeInstanceOf(InputError);
    expect(readdirSync(join(output, 'onnx')).sort()).toEqual(['model.onnx', 'model_quantized.onnx']);
    expect(staged(parent)).toEqual([]);
  });

  test('--overwrite never replaces the checkpoint folder or a folder that holds it', async () => {
    const holder = join(work, 'holder');
    const checkpoint = join(holder, 'ck');
    cpSync(TINY, checkpoint, { recursive: true });
    writeFileSync(join(holder, 'unrelated.txt'), 'mine');
    for (const output of [checkpoint, holder, join(holder, '.', 'ck', '..')]) {
      const error = await convertCheckpoint({ checkpoint, output, overwrite: true }).catch((e) => e);
      expect(error, output).toBeInstanceOf(InputError);
      expect(error.message).toMatch(/would delete it/);
    }
    expect(existsSync(join(checkpoint, 'model.safetensors'))).toBe(true);
    expect(readFileSync(join(holder, 'unrelated.txt'), 'utf8')).toBe('mine');
    // Replacing an earlier conversion is what --overwrite is for.
    const output = join(work, 'replaced');
    await convertCheckpoint({ checkpoint, output });
    writeFileSync(join(output, 'stale.txt'), 'old output');
    await convertCheckpoint({ checkpoint, output, overwrite: true, dtypes: 'q8' });
    expect(readdirSync(join(output, 'onnx'))).toEqual(['model_quantized.onnx']);
    expect(existsSync(join(output, 'stale.txt'))).toBe(false);
  });

  test('the result has ordinary permissions (not the 0700 of a temporary folder)', async () => {
    const output = join(work, 'mode');
    await convertCheckpoint({ checkpoint: TINY, output });
    expect(statSync(output).mode & 0o777).toBe(0o777 & ~process.umask());
  });

  test.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s during a conversion removes its partial output (exit %i)', async (signal, code) => {
    const parent = join(work, `signal-${signal}`);
    const output = join(parent, 'out');
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'seggpt.js'), 'convert', TINY, '--output', output, '--dtype', 'all'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (/building/.test(stderr) && !child.killed) child.kill(signal);
    });
    const exit = await new Promise<number | null>((done) => child.on('close', done));
    expect(exit).toBe(code);
    expect(stderr).toMatch(new RegExp(`interrupted \\(${signal}\\)`));
    expect(existsSync(output)).toBe(false);
    expect(staged(parent)).toEqual([]);
  });
});

describe('hostile configs are refused before anything is allocated', () => {
  test.each([
    ['num_hidden_layers', 1e9],
    ['hidden_size', 2 ** 40],
    ['num_attention_heads', 1e7],
    ['mlp_dim', 1e12],
    ['image_size', [1e6, 1e6]],
    ['patch_size', 1e6],
    ['pretrain_image_size', 1e9],
    ['decoder_hidden_size', 1e9],
  ])('%s = %j', (field, value) => {
    const started = performance.now();
    const error = (() => {
      try {
        parseSegGPTConfig({ ...tinyConfig(), [field]: value });
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(SegGPTConfigError);
    expect(error!.message).toContain(field);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test('the limits leave room far beyond ViT-L', () => {
    expect(SEGGPT_CONFIG_LIMITS.num_hidden_layers).toBeGreaterThanOrEqual(24 * 8);
    expect(SEGGPT_CONFIG_LIMITS.patches).toBeGreaterThanOrEqual(56 * 28 * 4);
    expect(() => parseSegGPTConfig({ ...tinyConfig(), hidden_size: 4096, num_attention_heads: 32, num_hidden_layers: 96, intermediate_hidden_state_indices: [95] })).not.toThrow();
  });

  test('a value nested 100 000 levels deep', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(() => parseSegGPTConfig({ ...tinyConfig(), hidden_act: deep })).toThrow(SegGPTConfigError);
    expect(() => parseSegGPTConfig({ ...tinyConfig(), some_extra: deep })).toThrow(/nested more than/);
  });
});

describe('weights', () => {
  test('NaN or Infinity in a weight is refused, naming the tensor; allow_non_finite converts anyway', async () => {
    const broken = editedCheckpoint('nan', (t) => {
      t.get('model.encoder.layers.1.mlp.lin1.weight')!.values[7] = NaN;
      t.get('model.encoder.layers.1.mlp.lin1.weight')!.values[9] = Infinity;
    });
    const error = await convertCheckpoint({ checkpoint: broken, output: join(work, 'nan-out') }).catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/"model\.encoder\.layers\.1\.mlp\.lin1\.weight" holds 2 non-finite value\(s\).*element 7.*--allow-non-finite/);
    expect(existsSync(join(work, 'nan-out'))).toBe(false);
    const forced = await convertCheckpoint({ checkpoint: broken, output: join(work, 'nan-forced'), allow_non_finite: true });
    expect(forced.variants).toHaveLength(1);
  });

  test('fp16: weights beyond ±65504 are clamped, with a warning naming the tensor and the count', async () => {
    const big = editedCheckpoint('huge', (t) => {
      const w = t.get('model.encoder.layers.0.attention.proj.weight')!.values;
      w[0] = 1e6;
      w[1] = -70000;
      w[2] = 65000; // representable: not clamped
    });
    const result = await convertCheckpoint({ checkpoint: big, output: join(work, 'huge-out'), dtypes: 'fp32,fp16' });
    expect(result.warnings).toEqual([expect.stringMatching(/^fp16: model\.encoder\.layers\.0\.attention\.proj\.weight: 2 of \d+ value\(s\) beyond fp16's range clamped to ±65504$/)]);
  });
});

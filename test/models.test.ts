import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tensor } from '@huggingface/transformers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  BackendError,
  CheckpointError,
  InputError,
  SegGPTConfig,
  SegGPTConfigError,
  SegGPTForImageSegmentation,
  SegGPTForInstanceSegmentation,
  SegGPTForSemanticSegmentation,
  SegGPTModel,
} from '../src/index.node.js';
import { runSegGPTSession } from '../src/models/seggpt_session.js';
import { TINY, tinyCases, type TinyCase } from './support/fixtures.js';
import { absDiff, readNpy } from '../dev/npy.js';
import { convertTinyRepo, removeRepo, writeSegformerRepo } from './support/transformers_repos.js';

// The fixture README: an fp32 port fed the stored inputs matches to ~1e-5; 1e-4 is a safe bound.
const PRED_TOLERANCE = 1e-4;

const cases = tinyCases();
const byName = (prefix: string): TinyCase => cases.find((c) => c.name.startsWith(prefix))!;

function tensor(dir: string, name: string): Tensor {
  const a = readNpy(join(dir, `${name}.npy`));
  return new Tensor('float32', a.data as Float32Array, a.shape);
}

function inputsOf(c: TinyCase) {
  return {
    pixel_values: tensor(c.dir, 'pixel_values'),
    prompt_pixel_values: tensor(c.dir, 'prompt_pixel_values'),
    prompt_masks: tensor(c.dir, 'prompt_masks'),
  };
}

function predDiff(c: TinyCase, pred: Tensor) {
  const ref = readNpy(join(c.dir, 'pred_masks.npy'));
  expect(pred.dims).toEqual(ref.shape);
  expect(pred.type).toBe('float32');
  return absDiff(pred.data as Float32Array, ref.data as Float32Array);
}

/** F32 tensors of a safetensors file, read independently of the converter. */
function safetensorsF32(path: string, names: string[]): Record<string, Float32Array> {
  const buf = readFileSync(path);
  const headerLength = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + headerLength));
  const base = 8 + headerLength;
  return Object.fromEntries(
    names.map((name) => {
      const [start, end] = header[name].data_offsets as [number, number];
      return [name, new Float32Array(buf.buffer.slice(buf.byteOffset + base + start, buf.byteOffset + base + end))];
    }),
  );
}

let dir: string;
let model: SegGPTForImageSegmentation;

beforeAll(async () => {
  dir = await convertTinyRepo(['fp32', 'fp16']);
  model = await SegGPTForImageSegmentation.from_pretrained(dir);
}, 180_000);

afterAll(async () => {
  await model?.dispose();
  removeRepo(dir);
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('SegGPTForImageSegmentation on the converted seggpt-tiny', () => {
  it('is a Transformers.js model whose config is a SegGPTConfig', () => {
    expect(model.config).toBeInstanceOf(SegGPTConfig);
    expect(model.main_input_name).toBe('pixel_values');
    expect(model.sessions.model.config).toEqual({ dtype: 'fp32', device: 'cpu' });
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: pred_masks match the reference', async (_name, c) => {
    const out = await model(inputsOf(c), c.json.model_call.kwargs);
    expect(Object.keys(out)).toEqual(['pred_masks']);
    const diff = predDiff(c, out.pred_masks);
    expect(diff.max).toBeLessThan(PRED_TOLERANCE);
  });

  it('accepts embedding_type / feature_ensemble inside the inputs object', async () => {
    const c = byName('04');
    const out = await model({ ...inputsOf(c), embedding_type: 'semantic', feature_ensemble: true });
    expect(predDiff(c, out.pred_masks).max).toBeLessThan(PRED_TOLERANCE);
  });

  it('ignores extra keys of the processor output (original_sizes)', async () => {
    const c = byName('01');
    const out = await model({ ...inputsOf(c), original_sizes: [[61, 97]] }, { embedding_type: 'semantic' });
    expect(predDiff(c, out.pred_masks).max).toBeLessThan(PRED_TOLERANCE);
  });

  it("defaults to the 'instance' type token, like HF", async () => {
    const c = byName('03'); // reference called with embedding_type 'instance'
    const out = await model(inputsOf(c));
    expect(predDiff(c, out.pred_masks).max).toBeLessThan(PRED_TOLERANCE);
    const semantic = await model(inputsOf(c), { embedding_type: 'semantic' });
    expect(predDiff(c, semantic.pred_masks).max).toBeGreaterThan(1e-3);
  });

  it("gives identical outputs through the library's run path (used in web runtimes)", async () => {
    const c = byName('05');
    const feeds = {
      ...inputsOf(c),
      embedding_type: new Tensor('int64', BigInt64Array.of(0n), [1]),
      feature_ensemble: new Tensor('bool', Uint8Array.of(0), [1]),
    };
    const direct = await runSegGPTSession(model, feeds, ['pred_masks'], { viaLibrary: false });
    const library = await runSegGPTSession(model, feeds, ['pred_masks'], { viaLibrary: true });
    expect(Array.from(library.pred_masks.data as Float32Array)).toEqual(Array.from(direct.pred_masks.data as Float32Array));
  });

  it('runs concurrent calls independently', async () => {
    const outs = await Promise.all(cases.map((c) => model(inputsOf(c), c.json.model_call.kwargs)));
    outs.forEach((out, i) => expect(predDiff(cases[i], out.pred_masks).max).toBeLessThan(PRED_TOLERANCE));
  });

  it('rejects bad calls with InputError', async () => {
    const c = byName('01');
    const good = inputsOf(c);
    await expect(model(good, { embedding_type: 'panoptic' as never })).rejects.toBeInstanceOf(InputError);
    await expect(model(good, { embedding_type: 'panoptic' as never })).rejects.toThrow(/'semantic' or 'instance'/);
    await expect(model(good, { feature_ensemble: 'yes' as never })).rejects.toBeInstanceOf(InputError);
    await expect(model({ ...good, prompt_masks: undefined as never })).rejects.toThrow(/prompt_masks is missing/);
    const small = new Tensor('float32', new Float32Array(3 * 32 * 32), [1, 3, 32, 32]);
    await expect(model({ ...good, pixel_values: small })).rejects.toThrow(/\[batch, 3, 64, 64\]/);
    const two = tensor(byName('05').dir, 'pixel_values');
    await expect(model({ ...good, pixel_values: two })).rejects.toBeInstanceOf(InputError);
    await expect(model({ ...good, pixel_values: good.pixel_values.to('float64') })).rejects.toBeInstanceOf(InputError);
    await expect(model(null as never)).rejects.toBeInstanceOf(InputError);
  });
});

describe('the other SegGPT classes', () => {
  it('SegGPTForSemanticSegmentation always uses the semantic type token', async () => {
    const semantic = await SegGPTForSemanticSegmentation.from_pretrained(dir);
    const c = byName('01'); // semantic reference
    expect(predDiff(c, (await semantic(inputsOf(c))).pred_masks).max).toBeLessThan(PRED_TOLERANCE);
    await expect(semantic(inputsOf(c), { embedding_type: 'instance' })).rejects.toBeInstanceOf(InputError);
    expect(semantic.get_embedding_type()).toBe('semantic');
    await semantic.dispose();
  });

  it('SegGPTForInstanceSegmentation always uses the instance type token', async () => {
    const instance = await SegGPTForInstanceSegmentation.from_pretrained(dir);
    const c = byName('03'); // instance reference
    expect(predDiff(c, (await instance(inputsOf(c))).pred_masks).max).toBeLessThan(PRED_TOLERANCE);
    await expect(instance(inputsOf(c), { embedding_type: 'semantic' })).rejects.toBeInstanceOf(InputError);
    await instance.dispose();
  });

  it('SegGPTModel returns last_hidden_state, the encoder output before encoder.layernorm', async () => {
    const encoder = await SegGPTModel.from_pretrained(dir);
    const c = byName('01');
    const out = await encoder(inputsOf(c), c.json.model_call.kwargs);
    expect(Object.keys(out)).toEqual(['last_hidden_state']);
    const hidden = out.last_hidden_state;
    expect(hidden.dims).toEqual([1, 8, 4, 32]);

    // intermediate_hidden_states.npy = cat(layernorm(h1), layernorm(h3)); h3 (the last layer) is last_hidden_state.
    const intermediate = readNpy(join(c.dir, 'intermediate_hidden_states.npy'));
    const w = safetensorsF32(join(TINY, 'model.safetensors'), ['model.encoder.layernorm.weight', 'model.encoder.layernorm.bias']);
    const [gamma, beta] = [w['model.encoder.layernorm.weight'], w['model.encoder.layernorm.bias']];
    const data = hidden.data as Float32Array;
    let max = 0;
    for (let p = 0; p < 32; p++) {
      const row = data.subarray(p * 32, p * 32 + 32);
      const mean = row.reduce((a, b) => a + b, 0) / 32;
      const variance = row.reduce((a, b) => a + (b - mean) ** 2, 0) / 32;
      for (let k = 0; k < 32; k++) {
        const normed = ((row[k] - mean) / Math.sqrt(variance + 1e-6)) * gamma[k] + beta[k];
        max = Math.max(max, Math.abs(normed - (intermediate.data as Float32Array)[p * 64 + 32 + k]));
      }
    }
    expect(max).toBeLessThan(PRED_TOLERANCE);
    await encoder.dispose();
  });
});

describe('loading options', () => {
  it('honours dtype (onnx/model_fp16.onnx), device and progress_callback, without warnings', async () => {
    const warn = vi.spyOn(console, 'warn');
    const events: { status: string; file?: string }[] = [];
    const fp16 = await SegGPTForImageSegmentation.from_pretrained(dir, {
      dtype: 'fp16',
      device: 'cpu',
      session_options: { intraOpNumThreads: 1 },
      progress_callback: (e) => events.push(e as { status: string; file?: string }),
    });
    expect(fp16.sessions.model.config).toEqual({ dtype: 'fp16', device: 'cpu' });
    expect(events.some((e) => e.file === 'onnx/model_fp16.onnx' && e.status === 'done')).toBe(true);
    const c = byName('01');
    const diff = predDiff(c, (await fp16(inputsOf(c), c.json.model_call.kwargs)).pred_masks);
    // fp16 weights and activations round at ~1e-3 relative (observed: max 9e-3, mean 1e-3 over the cases).
    expect(diff.mean).toBeLessThan(0.005);
    expect(diff.max).toBeLessThan(0.05);
    expect(diff.max).toBeGreaterThan(PRED_TOLERANCE);
    await fp16.dispose();
    expect(warn).not.toHaveBeenCalled();
  });

  it('reports a dtype that was not converted as a CheckpointError', async () => {
    await expect(SegGPTForImageSegmentation.from_pretrained(dir, { dtype: 'q4' })).rejects.toBeInstanceOf(CheckpointError);
    await expect(SegGPTForImageSegmentation.from_pretrained(dir, { dtype: 'q4' })).rejects.toThrow(/seggpt convert/);
  });

  it('reports an unknown device as a BackendError', async () => {
    await expect(SegGPTForImageSegmentation.from_pretrained(dir, { device: 'nonexistent' as never })).rejects.toBeInstanceOf(BackendError);
  });

  it('refuses a checkpoint that is not SegGPT', async () => {
    const segformer = await writeSegformerRepo();
    await expect(SegGPTForImageSegmentation.from_pretrained(segformer)).rejects.toBeInstanceOf(SegGPTConfigError);
    removeRepo(segformer);
  });
});

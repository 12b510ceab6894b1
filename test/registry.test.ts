import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import * as T from '@huggingface/transformers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import {
  SegGPTConfig,
  SegGPTConfigError,
  SegGPTForImageSegmentation,
  SegGPTImageProcessor,
  SegGPTModel,
  isSegGPTRegistered,
  registerSegGPT,
} from '../src/index.node.js';
import { TINY } from './support/fixtures.js';
import { describeResolution } from './support/tjs_resolution.mjs';
import { convertTinyRepo, removeRepo, writeSegformerRepo } from './support/transformers_repos.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The same description computed by a child process that imports only Transformers.js (nothing registered). */
async function bareResolution(dir: string): Promise<Record<string, unknown>> {
  const { stdout } = await promisify(execFile)(process.execPath, ['test/support/tjs_resolution.mjs', '--print', dir], { cwd: ROOT });
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

let seggptDir: string;
let segformerDir: string;

beforeAll(async () => {
  [seggptDir, segformerDir] = await Promise.all([convertTinyRepo(), writeSegformerRepo()]);
}, 120_000);

afterEach(() => {
  vi.restoreAllMocks();
});

afterAll(() => {
  removeRepo(seggptDir);
  removeRepo(segformerDir);
});

describe('registerSegGPT', () => {
  it('runs on import and is idempotent', () => {
    expect(isSegGPTRegistered()).toBe(true);
    const hooked = () => [
      T.AutoConfig.from_pretrained,
      T.AutoModel.from_pretrained,
      T.AutoModelForImageSegmentation.from_pretrained,
      T.AutoImageProcessor.from_pretrained,
      T.AutoProcessor.from_pretrained,
      T.ImageSegmentationPipeline.prototype._call,
    ];
    const before = hooked();
    registerSegGPT();
    registerSegGPT();
    expect(hooked()).toEqual(before);
    const segmentationMap = T.AutoModelForImageSegmentation.MODEL_CLASS_MAPPINGS[0];
    expect(segmentationMap.get('seggpt')).toBe('PreTrainedModel');
    // Only the other Auto classes that share that table learn the type.
    expect(T.AutoModel.supports('seggpt')).toBe(true);
    expect(T.AutoModelForImageSegmentation.supports('seggpt')).toBe(true);
    expect(T.AutoModelForSemanticSegmentation.supports('seggpt')).toBe(false);
    expect(T.AutoModelForUniversalSegmentation.supports('seggpt')).toBe(false);
  });
});

describe('SegGPT checkpoints', () => {
  it('resolve to the SegGPT classes without warnings', async () => {
    const warn = vi.spyOn(console, 'warn');

    const config = await T.AutoConfig.from_pretrained(seggptDir);
    expect(config).toBeInstanceOf(SegGPTConfig);
    expect(config).toBeInstanceOf(T.PretrainedConfig);
    expect(config['transformers.js_config']).toEqual({ dtype: 'fp32' });

    // The converted config names SegGptForImageSegmentation (as hub configs do): AutoModel follows it.
    const encoder = await T.AutoModel.from_pretrained(seggptDir);
    expect(encoder).toBeInstanceOf(SegGPTForImageSegmentation);
    expect(encoder.config).toBeInstanceOf(SegGPTConfig);
    const segmenter = await T.AutoModelForImageSegmentation.from_pretrained(seggptDir);
    expect(segmenter).toBeInstanceOf(SegGPTForImageSegmentation);
    expect(segmenter.config).toBeInstanceOf(SegGPTConfig);

    expect(await T.AutoImageProcessor.from_pretrained(seggptDir)).toBeInstanceOf(SegGPTImageProcessor);
    const processor = await T.AutoProcessor.from_pretrained(seggptDir);
    expect(processor).toBeInstanceOf(T.Processor);
    expect(processor.image_processor).toBeInstanceOf(SegGPTImageProcessor);

    // File resolution (used by pipeline() and by progress totals) knows the type: one encoder-only session.
    expect(await T.ModelRegistry.get_model_files(seggptDir)).toEqual(['config.json', 'onnx/model.onnx']);

    await Promise.all([encoder.dispose(), segmenter.dispose()]);
    expect(warn).not.toHaveBeenCalled();
  });

  it('resolve the unconverted HF folder config and processor too (no ONNX needed)', async () => {
    expect(await T.AutoConfig.from_pretrained(TINY)).toBeInstanceOf(SegGPTConfig);
    expect(await T.AutoImageProcessor.from_pretrained(TINY)).toBeInstanceOf(SegGPTImageProcessor);
  });

  it('report a bad SegGPT config.json through AutoConfig', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seggpt-bad-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'seggpt', hidden_size: 30, num_attention_heads: 4 }));
    await expect(T.AutoConfig.from_pretrained(dir)).rejects.toBeInstanceOf(SegGPTConfigError);
    await expect(T.AutoModel.from_pretrained(dir)).rejects.toThrow(/hidden_size/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('are not resolved by the bare library (registration is what changes)', async () => {
    const bare = await bareResolution(seggptDir);
    expect(bare.AutoModelForImageSegmentation).toBe('Error: Unsupported model type: seggpt');
    expect((bare.config as { class: string }).class).not.toBe('SegGPTConfig');
  }, 60_000);
});

describe('other model types', () => {
  it('resolve exactly as in the bare library (SegFormer-shaped repo)', async () => {
    const warn = vi.spyOn(console, 'warn');
    const registered = await describeResolution(segformerDir);
    const bare = await bareResolution(segformerDir);
    expect(registered).toEqual(bare);
    // And what that is, independently of the comparison:
    expect(registered.AutoModelForSemanticSegmentation).toBe(T.SegformerForSemanticSegmentation.name);
    expect(registered.AutoImageProcessor).toBe(T.SegformerImageProcessor.name);
    expect(registered.AutoModelForImageSegmentation).toBe('Error: Unsupported model type: segformer');
    expect(registered.files).toEqual(['config.json', 'onnx/model.onnx']);
    const config = await T.AutoConfig.from_pretrained(segformerDir);
    expect(config).not.toBeInstanceOf(SegGPTConfig);
    expect(warn).not.toHaveBeenCalled();
  }, 60_000);
});

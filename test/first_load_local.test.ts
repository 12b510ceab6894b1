/**
 * Hugging Face SegGPT checkpoint folders on disk, loaded in Node with no manual step: the requested variant is
 * converted once into `<cache>/.seggpt-converted/` and reused until the checkpoint changes.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoModel, AutoProcessor, env, RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { writeSyntheticCheckpoint } from '../src/conversion/node/synthetic.js';
import { parseSegGPTConfig } from '../src/configs/seggpt_config_fields.js';
import { pipeline, SEGGPT_DEMO_MODEL, SegGPTForImageSegmentation, type SegGPTProcessor } from '../src/index.node.js';
import { SHAPES, TINY, tinyCases } from './support/fixtures.js';
import { expectReferenceMaps, expectReferencePredMasks, replayCase } from './support/replay.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHAPES_EXAMPLES = join(SHAPES, 'examples');
let work: string;
const saved = { cacheDir: env.cacheDir };

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-first-load-local-'));
  env.cacheDir = join(work, 'cache');
});
afterAll(() => {
  Object.assign(env, saved);
  rmSync(work, { recursive: true, force: true });
});

const convertedFolders = (cacheDir = env.cacheDir!) => {
  const root = join(cacheDir, '.seggpt-converted');
  return existsSync(root) ? readdirSync(root).filter((n) => !n.startsWith('.')) : [];
};

describe('the bundled demo model', () => {
  test('pipeline(SEGGPT_DEMO_MODEL) converts it on first use and segments the demo task as the reference does', async () => {
    expect(SEGGPT_DEMO_MODEL).toBe(join(ROOT, 'models', 'seggpt-shapes'));
    const examples = JSON.parse(readFileSync(join(SHAPES_EXAMPLES, 'examples.json'), 'utf8')).examples as any[];
    const ex = examples.find((e) => e.name === 'ex1');
    const read = (f: string) => RawImage.read(join(SHAPES_EXAMPLES, f));
    const segmenter = await pipeline('image-segmentation', SEGGPT_DEMO_MODEL);
    const segments = await segmenter(await read(ex.files.query_image), {
      prompt_images: await read(ex.files.prompt_image),
      prompt_masks: await read(ex.files.prompt_mask),
      embedding_type: 'semantic',
    });
    await segmenter.dispose();
    const reference = await read(ex.files.predicted_mask);
    let inter = 0;
    let union = 0;
    segments[0].mask.data.forEach((v, i) => {
      const a = v >= 128;
      const b = reference.data[i] >= 128;
      inter += Number(a && b);
      union += Number(a || b);
    });
    expect(inter / union).toBeGreaterThan(0.98);
    expect(convertedFolders()).toHaveLength(1);
    // The package folder itself is never written to.
    expect(existsSync(join(SEGGPT_DEMO_MODEL, 'onnx'))).toBe(false);
  });

  test('the next load reuses the conversion', async () => {
    const [folder] = convertedFolders();
    const onnx = join(env.cacheDir!, '.seggpt-converted', folder, 'onnx', 'model.onnx');
    const mtime = statSync(onnx).mtimeMs;
    const segmenter = await pipeline('image-segmentation', SEGGPT_DEMO_MODEL);
    await segmenter.dispose();
    expect(statSync(onnx).mtimeMs).toBe(mtime);
    expect(convertedFolders()).toHaveLength(1);
  });
});

describe('a checkpoint folder', () => {
  let processor: SegGPTProcessor;
  let folder: string;

  beforeAll(() => {
    folder = join(work, 'seggpt-tiny');
    cpSync(TINY, folder, { recursive: true });
  });

  test('every fixture case through AutoProcessor and AutoModel equals the reference', async () => {
    processor = (await AutoProcessor.from_pretrained(folder)) as unknown as SegGPTProcessor;
    const model = await AutoModel.from_pretrained(folder);
    for (const c of tinyCases()) {
      const { outputs } = await replayCase(c, processor, model);
      expectReferencePredMasks(c, outputs);
      expectReferenceMaps(c, processor, outputs);
    }
    await model.dispose();
  });

  test('changed weights, config or processor config convert again; the same files do not', async () => {
    const before = convertedFolders().length;
    await (await SegGPTForImageSegmentation.from_pretrained(folder)).dispose();
    expect(convertedFolders().length).toBe(before);
    const weights = join(folder, 'model.safetensors');
    const later = new Date(statSync(weights).mtimeMs + 5000);
    utimesSync(weights, later, later);
    await (await SegGPTForImageSegmentation.from_pretrained(folder)).dispose();
    expect(convertedFolders().length).toBe(before + 1);
    const preprocessor = join(folder, 'preprocessor_config.json');
    writeFileSync(preprocessor, readFileSync(preprocessor, 'utf8').replace(/\s*}\s*$/, ',\n  "do_convert_rgb": true\n}\n'));
    await (await SegGPTForImageSegmentation.from_pretrained(folder)).dispose();
    expect(convertedFolders().length).toBe(before + 2);
  });

  test('a folder that holds the requested ONNX file already loads it as it is', async () => {
    const withOnnx = join(work, 'with-onnx');
    cpSync(TINY, withOnnx, { recursive: true });
    const converted = join(work, 'tiny-q8');
    await convertCheckpoint({ checkpoint: TINY, output: converted, dtypes: 'q8' });
    cpSync(join(converted, 'onnx'), join(withOnnx, 'onnx'), { recursive: true });
    const before = convertedFolders().length;
    const model = await SegGPTForImageSegmentation.from_pretrained(withOnnx, { dtype: 'q8' });
    await model.dispose();
    expect(convertedFolders().length).toBe(before);
  });

  test('concurrent loads convert once; cache_dir puts the conversion elsewhere', async () => {
    const cache_dir = join(work, 'own-cache');
    const models = await Promise.all([1, 2, 3].map(() => SegGPTForImageSegmentation.from_pretrained(folder, { dtype: 'q4', cache_dir })));
    await Promise.all(models.map((m) => m.dispose()));
    expect(convertedFolders(cache_dir)).toHaveLength(1);
  });

  test('a symlink to the checkpoint folder finds the conversion made through its target', async () => {
    const cache_dir = join(work, 'symlink-cache');
    const link = join(work, 'linked-checkpoint');
    symlinkSync(folder, link);
    await (await SegGPTForImageSegmentation.from_pretrained(folder, { dtype: 'q4', cache_dir })).dispose();
    await (await SegGPTForImageSegmentation.from_pretrained(link, { dtype: 'q4', cache_dir })).dispose();
    expect(convertedFolders(cache_dir)).toHaveLength(1);
  });

  test('a checkpoint with only pytorch_model.bin is refused, never unpickled', async () => {
    const pickle = join(work, 'pickle');
    mkdirSync(pickle);
    for (const f of ['config.json', 'preprocessor_config.json']) cpSync(join(TINY, f), join(pickle, f));
    writeFileSync(join(pickle, 'pytorch_model.bin'), 'not really a pickle');
    await expect(SegGPTForImageSegmentation.from_pretrained(pickle)).rejects.toThrow(/pytorch_model\.bin.*never read.*safetensors/);
  });
});

describe('a conversion killed midway', () => {
  test('leaves no cache entry; the next load cleans up after it and converts', async () => {
    // Large enough (≈ 60 MB) that a kill lands while the converted file is being written.
    const big = join(work, 'big');
    const config = parseSegGPTConfig({ ...JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')), hidden_size: 256, num_attention_heads: 4, num_hidden_layers: 6, mlp_dim: 1024, intermediate_hidden_state_indices: [1, 3, 5], merge_index: 1 });
    await writeSyntheticCheckpoint(config, big, { preprocessor: JSON.parse(readFileSync(join(TINY, 'preprocessor_config.json'), 'utf8')) });
    const cacheDir = join(work, 'kill-cache');
    const script = `
      const { env } = await import('@huggingface/transformers');
      const { SegGPTForImageSegmentation } = await import(${JSON.stringify(join(ROOT, 'dist', 'src', 'index.node.js'))});
      env.cacheDir = ${JSON.stringify(cacheDir)};
      await SegGPTForImageSegmentation.from_pretrained(${JSON.stringify(big)}, {
        progress_callback: (e) => { if (e.status === 'progress' && e.file === 'onnx/model.onnx') process.stdout.write('writing\\n'); },
      });
      process.stdout.write('finished\\n');`;
    const outcome = await new Promise<string>((done) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      let seen = '';
      child.stdout.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('writing')) child.kill('SIGKILL');
      });
      child.on('close', () => done(seen.includes('finished') ? 'finished' : 'killed'));
    });
    expect(outcome).toBe('killed');
    const root = join(cacheDir, '.seggpt-converted');
    expect(readdirSync(root).filter((n) => !n.startsWith('.'))).toEqual([]);
    expect(readdirSync(root).filter((n) => n.includes('.partial-'))).toHaveLength(1);
    env.cacheDir = cacheDir;
    try {
      const model = await SegGPTForImageSegmentation.from_pretrained(big);
      await model.dispose();
    } finally {
      env.cacheDir = join(work, 'cache');
    }
    expect(readdirSync(root).filter((n) => n.includes('.partial-'))).toEqual([]);
    expect(readdirSync(root)).toHaveLength(1);
  });
});

import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../cli/main.js';
import { SHAPES, TINY, tinyCases } from './support/fixtures.js';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { pipeline } from '../src/index.node.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const EXAMPLES = join(SHAPES, 'examples');
const TOKEN = 'hf_cliSecretToken0123456789';

let work: string;
let hub: HubServer;
let savedCache: string | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-cli-'));
  savedCache = process.env.SEGGPT_CACHE_DIR;
  process.env.SEGGPT_CACHE_DIR = join(work, 'cache');
  hub = await startHubServer({
    token: TOKEN,
    repos: {
      'BAAI/seggpt-tiny': {
        files: Object.fromEntries(['config.json', 'preprocessor_config.json', 'model.safetensors'].map((f) => [f, join(TINY, f)])),
      },
    },
  });
});

afterAll(async () => {
  await hub?.close();
  if (savedCache === undefined) delete process.env.SEGGPT_CACHE_DIR;
  else process.env.SEGGPT_CACHE_DIR = savedCache;
  rmSync(work, { recursive: true, force: true });
});

/** Runs `seggpt …` in-process, capturing what it prints. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += c.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += c.toString()), true)) as typeof process.stderr.write;
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}

function iou(a: RawImage, b: RawImage): number {
  expect([a.channels, b.channels]).toEqual([1, 1]);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = a.data[i] >= 128;
    const y = b.data[i] >= 128;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union ? inter / union : 1;
}

describe('seggpt (built binary)', () => {
  test('--help lists the commands with a word on each; every command has --help', () => {
    const bin = join(ROOT, 'dist', 'cli', 'seggpt.js');
    expect(existsSync(bin)).toBe(true); // `npm test` builds first (pretest)
    const top = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(top.status).toBe(0);
    for (const command of ['convert', 'publish', 'segment', 'synthetic']) {
      // each listed with the first sentence of its own help
      expect(top.stdout).toMatch(new RegExp(`^  ${command} +[A-Z][^\\n]{20,}\\.$`, 'm'));
      const help = spawnSync(process.execPath, [bin, command, '--help'], { encoding: 'utf8' });
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: seggpt ${command}`));
    }
  });

  test('a bad call prints one line and exits non-zero, without a stack trace', () => {
    const bin = join(ROOT, 'dist', 'cli', 'seggpt.js');
    const result = spawnSync(process.execPath, [bin, 'segment', 'nope.png', '--prompt-image', 'a.png'], { encoding: 'utf8' });
    expect(result.status).not.toBe(0);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^error: .*--prompt-mask/);
  });
});

test('--version prints the package version (from source and built)', async () => {
  const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const r = await run(['--version']);
  expect(r.code).toBe(0);
  expect(r.stdout.trim()).toBe(version);
  const built = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli', 'seggpt.js'), '--version'], { encoding: 'utf8' });
  expect(built.stdout.trim()).toBe(version);
});

describe('seggpt convert and publish against a hub on loopback', () => {
  test('convert BAAI/seggpt-tiny downloads, converts and names the base model', async () => {
    const output = join(work, 'from-hub');
    const r = await run(['convert', 'BAAI/seggpt-tiny', '--output', output, '--hub-url', hub.url, '--cache-dir', join(work, 'hub-cache'), '--dtype', 'fp32,q4']);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(readdirSync(join(output, 'onnx')).sort()).toEqual(['model.onnx', 'model_q4.onnx']);
    expect(JSON.parse(readFileSync(join(output, 'config.json'), 'utf8'))._name_or_path).toBe('BAAI/seggpt-tiny');
  });

  test('a repo that is not on the hub ends with one line naming it', async () => {
    const r = await run(['convert', 'BAAI/nothing-here', '--output', join(work, 'never'), '--hub-url', hub.url]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/BAAI\/nothing-here/);
    expect(existsSync(join(work, 'never'))).toBe(false);
  });

  test('publish uploads the converted folder with a model card, never printing the token', async () => {
    const r = await run(['publish', join(work, 'from-hub'), '--repo', 'me/seggpt-tiny-onnx', '--hub-url', hub.url, '--token', TOKEN]);
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
    const files = hub.filesAt('me/seggpt-tiny-onnx');
    expect(files).toEqual(expect.arrayContaining(['README.md', 'config.json', 'preprocessor_config.json', 'onnx/model.onnx', 'onnx/model_q4.onnx']));
    const uploaded = await hub.fileAt('me/seggpt-tiny-onnx', 'onnx/model.onnx');
    expect(Buffer.compare(uploaded!, readFileSync(join(work, 'from-hub', 'onnx', 'model.onnx')))).toBe(0);
    const card = (await hub.fileAt('me/seggpt-tiny-onnx', 'README.md'))!.toString();
    expect(card).toMatch(/library_name: transformers\.js/);
    expect(card).toMatch(/base_model: BAAI\/seggpt-tiny/);
  });

  test('publish without a token fails with one line', async () => {
    const saved = process.env.HF_TOKEN;
    delete process.env.HF_TOKEN;
    try {
      const r = await run(['publish', join(work, 'from-hub'), '--repo', 'me/other', '--hub-url', hub.url]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/token/i);
    } finally {
      if (saved !== undefined) process.env.HF_TOKEN = saved;
    }
  });
});

describe('seggpt segment and the pipeline give the same maps (one segmentation core)', () => {
  let tinyModel: string;
  beforeAll(async () => {
    tinyModel = join(work, 'tiny-onnx');
    await convertCheckpoint({ checkpoint: TINY, output: tinyModel, dtypes: 'fp32' });
  });

  test.each(tinyCases().map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const file = (item: { file: string }) => join(c.dir, item.file);
    const { images, prompt_images, prompt_masks } = c.json.inputs;
    const kwargs = c.json.model_call.kwargs as { embedding_type?: 'semantic' | 'instance'; feature_ensemble?: boolean };
    const numLabels: number | null = c.json.post_process_call.num_labels ?? null;
    const fewShot = kwargs.feature_ensemble === true && prompt_images.length > 1;
    const segmenter = await pipeline('seggpt', tinyModel, { device: 'cpu', dtype: 'fp32' });
    try {
      for (let i = 0; i < (fewShot ? 1 : images.length); i++) {
        const k = fewShot ? null : prompt_images.length === images.length ? i : 0;
        const prompts = k === null ? prompt_images.map(file) : [file(prompt_images[k])];
        const masks = k === null ? prompt_masks.map(file) : [file(prompt_masks[k])];
        const type = kwargs.embedding_type ?? 'instance';
        const segments = await segmenter(file(images[i]), { prompt_images: prompts, prompt_masks: masks, embedding_type: type, num_labels: numLabels });
        const output = join(work, 'same-maps', c.name, String(i));
        const r = await run([
          'segment', file(images[i]), '--prompt-image', ...prompts, '--prompt-mask', ...masks, '--embedding-type', type,
          ...(numLabels ? ['--num-labels', String(numLabels)] : []), '--model', tinyModel, '--output', output, '--quiet',
        ]);
        expect(r.stderr).toBe('');
        const written = await RawImage.read(join(output, `${images[i].file.replace(/\.[a-z]+$/, '')}_mask.png`));
        const cliIds = Array.from({ length: written.width * written.height }, (_, p) => written.data[p * written.channels]);
        const pipelineIds = new Array(cliIds.length).fill(0);
        for (const segment of segments) {
          const id = numLabels === null ? 255 : Number(segment.label.split('_')[1]);
          segment.mask.data.forEach((v, p) => {
            if (v === 255) pipelineIds[p] = id;
          });
        }
        expect(cliIds, `${c.name} image ${i}`).toEqual(pipelineIds);
      }
    } finally {
      await segmenter.dispose();
    }
  });
});

describe('seggpt segment', () => {
  const examples = JSON.parse(readFileSync(join(EXAMPLES, 'examples.json'), 'utf8')).examples as any[];

  test('segments a demo task with the bundled model as the reference does', async () => {
    const ex = examples.find((e) => e.name === 'ex1');
    const output = join(work, 'segment-ex1');
    const r = await run([
      'segment',
      join(EXAMPLES, ex.files.query_image),
      '--prompt-image',
      join(EXAMPLES, ex.files.prompt_image),
      '--prompt-mask',
      join(EXAMPLES, ex.files.prompt_mask),
      '--embedding-type',
      ex.embedding_type,
      '--output',
      output,
    ]);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    const stem = ex.files.query_image.replace(/\.png$/, '');
    const mask = await RawImage.read(join(output, `${stem}_mask.png`));
    const overlay = await RawImage.read(join(output, `${stem}_overlay.png`));
    const [h, w] = ex.query_size_hw;
    expect([mask.height, mask.width, overlay.height, overlay.width]).toEqual([h, w, h, w]);
    // The reference's own binary prediction for this example: a faithful port agrees up to threshold pixels.
    const reference = await RawImage.read(join(EXAMPLES, ex.files.predicted_mask));
    expect(iou(mask, reference)).toBeGreaterThan(0.98);
    const target = await RawImage.read(join(EXAMPLES, ex.files.target_mask));
    expect(Math.abs(iou(mask, target) - ex.iou)).toBeLessThan(0.02);
    const summary = JSON.parse(readFileSync(join(output, `${stem}.json`), 'utf8'));
    expect(summary).toMatchObject({ width: w, height: h, prompts: 1, embedding_type: 'semantic', dtype: 'fp32' });
  });

  test('few-shot: two prompts use the feature ensemble', async () => {
    const ex = examples.find((e) => e.name === 'ex6');
    const output = join(work, 'segment-ex6');
    const files = ex.files;
    const r = await run([
      'segment',
      join(EXAMPLES, files.query_image),
      '--prompt-image',
      join(EXAMPLES, files.prompt_image_0),
      join(EXAMPLES, files.prompt_image_1),
      '--prompt-mask',
      join(EXAMPLES, files.prompt_mask_0),
      join(EXAMPLES, files.prompt_mask_1),
      '--embedding-type',
      ex.embedding_type,
      '--output',
      output,
    ]);
    expect(r.code).toBe(0);
    const stem = files.query_image.replace(/\.png$/, '');
    const summary = JSON.parse(readFileSync(join(output, `${stem}.json`), 'utf8'));
    expect(summary).toMatchObject({ prompts: 2, feature_ensemble: true });
    const mask = await RawImage.read(join(output, `${stem}_mask.png`));
    const reference = await RawImage.read(join(EXAMPLES, files.predicted_mask));
    expect(iou(mask, reference)).toBeGreaterThan(0.98);
  });

  test('--frames propagates each prediction as a prompt for the next frame', async () => {
    const ex = examples.find((e) => e.name === 'ex3');
    const frames = join(work, 'frames');
    mkdirSync(frames);
    for (let i = 1; i <= 3; i++) copyFileSync(join(EXAMPLES, ex.files.query_image), join(frames, `frame${i}.png`));
    const output = join(work, 'segment-frames');
    const prompt = ['--prompt-image', join(EXAMPLES, ex.files.prompt_image), '--prompt-mask', join(EXAMPLES, ex.files.prompt_mask)];
    const summaries = (folder: string) => [1, 2, 3].map((i) => JSON.parse(readFileSync(join(folder, `frame${i}.json`), 'utf8')));
    const r = await run(['segment', '--frames', frames, ...prompt, '--output', output]);
    expect(r.code).toBe(0);
    expect(summaries(output).map((s) => [s.prompts, s.feature_ensemble])).toEqual([[1, false], [2, true], [3, true]]);
    const short = await run(['segment', '--frames', frames, ...prompt, '--memory', '1', '--output', `${output}-1`]);
    expect(short.code).toBe(0);
    expect(summaries(`${output}-1`).map((s) => s.prompts)).toEqual([1, 2, 2]);
    const misplaced = await run(['segment', join(frames, 'frame1.png'), ...prompt, '--memory', '1', '--output', `${output}-x`]);
    expect(misplaced.code).toBe(1);
    expect(misplaced.stderr).toMatch(/--memory applies to video: give --frames/);
  });

  test("the default embedding type is the model's (instance), as in the pipeline", async () => {
    const ex = examples.find((e) => e.name === 'ex1');
    const output = join(work, 'segment-default-type');
    const r = await run(['segment', join(EXAMPLES, ex.files.query_image), '--prompt-image', join(EXAMPLES, ex.files.prompt_image), '--prompt-mask', join(EXAMPLES, ex.files.prompt_mask), '--output', output]);
    expect(r.code).toBe(0);
    const stem = ex.files.query_image.replace(/\.png$/, '');
    expect(JSON.parse(readFileSync(join(output, `${stem}.json`), 'utf8')).embedding_type).toBe('instance');
  });

  test('RGB prompt masks work as --help says; --num-labels writes class ids into the mask PNG', async () => {
    const ex = examples.find((e) => e.name === 'ex1');
    const grey = await RawImage.read(join(EXAMPLES, ex.files.prompt_mask));
    // The same object painted in palette colour 1 of num_labels 2 (255, 255, 255) is white, so use a red mask for RGB.
    const red = new Uint8ClampedArray(grey.width * grey.height * 3);
    for (let i = 0; i < grey.width * grey.height; i++) if (grey.data[i * grey.channels] > 127) red[i * 3] = 255;
    const rgbMask = join(work, 'red_mask.png');
    await new RawImage(red, grey.width, grey.height, 3).save(rgbMask);
    const output = join(work, 'segment-rgb');
    const query = join(EXAMPLES, ex.files.query_image);
    const r = await run(['segment', query, '--prompt-image', join(EXAMPLES, ex.files.prompt_image), '--prompt-mask', rgbMask, '--output', output]);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);

    const classMap = new Uint8ClampedArray(grey.width * grey.height);
    for (let i = 0; i < classMap.length; i++) classMap[i] = grey.data[i * grey.channels] > 127 ? 2 : 0;
    const classMask = join(work, 'class_mask.png');
    await new RawImage(classMap, grey.width, grey.height, 1).save(classMask);
    const classes = await run(['segment', query, '--prompt-image', join(EXAMPLES, ex.files.prompt_image), '--prompt-mask', classMask, '--num-labels', '2', '--output', `${output}-classes`]);
    expect(classes.code).toBe(0);
    const stem = ex.files.query_image.replace(/\.png$/, '');
    const written = await RawImage.read(join(`${output}-classes`, `${stem}_mask.png`));
    const values = new Set(Array.from({ length: written.width * written.height }, (_, i) => written.data[i * written.channels]));
    expect([...values].every((v) => v <= 2)).toBe(true);
    expect(values.has(2)).toBe(true);
    const summary = JSON.parse(readFileSync(join(`${output}-classes`, `${stem}.json`), 'utf8'));
    expect(summary.labels.map((l: { label: number }) => l.label)).toEqual([...values].sort((a, b) => a - b));
  });

  test('inputs with the same file name in different folders get their own outputs', async () => {
    const ex = examples.find((e) => e.name === 'ex1');
    for (const folder of ['a', 'b']) {
      mkdirSync(join(work, 'same-name', folder), { recursive: true });
      copyFileSync(join(EXAMPLES, folder === 'a' ? ex.files.query_image : 'ex3_query_image.png'), join(work, 'same-name', folder, 'query.png'));
    }
    const output = join(work, 'segment-same-name');
    const r = await run(['segment', join(work, 'same-name', 'a', 'query.png'), join(work, 'same-name', 'b', 'query.png'), '--prompt-image', join(EXAMPLES, ex.files.prompt_image), '--prompt-mask', join(EXAMPLES, ex.files.prompt_mask), '--output', output]);
    expect(r.code).toBe(0);
    const a = JSON.parse(readFileSync(join(output, 'a_query.json'), 'utf8'));
    const b = JSON.parse(readFileSync(join(output, 'b_query.json'), 'utf8'));
    expect([a.image, b.image]).toEqual([join(work, 'same-name', 'a', 'query.png'), join(work, 'same-name', 'b', 'query.png')]);
    expect(readdirSync(output).filter((f) => f.startsWith('.'))).toEqual([]); // no temporary files left
  });

  test('warns when a mask has another aspect ratio than its prompt image', async () => {
    const ex = examples.find((e) => e.name === 'ex1');
    const squashed = join(work, 'squashed_mask.png');
    const mask = await RawImage.read(join(EXAMPLES, ex.files.prompt_mask));
    await (await mask.resize(mask.width, Math.round(mask.height / 2))).save(squashed);
    const r = await run(['segment', join(EXAMPLES, ex.files.query_image), '--prompt-image', join(EXAMPLES, ex.files.prompt_image), '--prompt-mask', squashed, '--output', join(work, 'warn')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: .*aspect ratio/);
  });

  test('--model <hub id> converts a Hugging Face checkpoint on first use, from --hub-url or HF_ENDPOINT', async () => {
    const ex = examples.find((e) => e.name === 'ex1');
    const args = (cache: string) => [
      'segment',
      join(EXAMPLES, ex.files.query_image),
      '--prompt-image',
      join(EXAMPLES, ex.files.prompt_image),
      '--prompt-mask',
      join(EXAMPLES, ex.files.prompt_mask),
      '--model',
      'BAAI/seggpt-tiny',
      '--cache-dir',
      cache,
      '--output',
      join(work, 'by-id'),
    ];
    const before = hub.received.requests.length;
    const r = await run([...args(join(work, 'cli-cache-1')), '--hub-url', hub.url]);
    expect(r.stderr).not.toMatch(/^error/m);
    expect(r.code).toBe(0);
    expect(hub.received.requests.slice(before).some((q) => q.url.endsWith('/BAAI/seggpt-tiny/resolve/main/model.safetensors'))).toBe(true);
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.url;
    try {
      const viaEnv = await run(args(join(work, 'cli-cache-2')));
      expect(viaEnv.code).toBe(0);
      // Cached now: offline (a hub that is not there) with --local-files-only still works.
      process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
      const offline = await run([...args(join(work, 'cli-cache-2')), '--local-files-only']);
      expect(offline.stderr).not.toMatch(/^error/m);
      expect(offline.code).toBe(0);
      const unreachable = await run(args(join(work, 'cli-cache-3')));
      expect(unreachable.code).toBe(1);
      expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
      expect(unreachable.stderr).toMatch(/cannot reach 127\.0\.0\.1:9 to load "BAAI\/seggpt-tiny".*HF_ENDPOINT/);
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
  });

  const notAnImage = () => {
    const path = join(work, 'not-an-image.png');
    writeFileSync(path, 'this is text, not a PNG');
    return path;
  };

  test.each([
    ['missing prompt mask', () => ['q.png', '--prompt-image', 'p.png'], /--prompt-mask/],
    ['count mismatch', () => [join(EXAMPLES, 'ex1_query_image.png'), '--prompt-image', join(EXAMPLES, 'ex1_prompt_image.png'), join(EXAMPLES, 'ex3_prompt_image.png'), '--prompt-mask', join(EXAMPLES, 'ex1_prompt_mask.png')], /2 prompt image\(s\) but 1 prompt mask/],
    ['missing file', () => [join(work, 'absent.png'), '--prompt-image', join(EXAMPLES, 'ex1_prompt_image.png'), '--prompt-mask', join(EXAMPLES, 'ex1_prompt_mask.png')], /absent\.png does not exist/],
    ['non-image bytes', () => [notAnImage(), '--prompt-image', join(EXAMPLES, 'ex1_prompt_image.png'), '--prompt-mask', join(EXAMPLES, 'ex1_prompt_mask.png')], /not-an-image\.png is not an image/],
    ['unknown dtype', () => [join(EXAMPLES, 'ex1_query_image.png'), '--prompt-image', join(EXAMPLES, 'ex1_prompt_image.png'), '--prompt-mask', join(EXAMPLES, 'ex1_prompt_mask.png'), '--dtype', 'fp8'], /unknown --dtype "fp8"/],
    ['unknown device', () => [join(EXAMPLES, 'ex1_query_image.png'), '--prompt-image', join(EXAMPLES, 'ex1_prompt_image.png'), '--prompt-mask', join(EXAMPLES, 'ex1_prompt_mask.png'), '--device', 'tpu'], /unknown --device "tpu"/],
    ['not a SegGPT folder', () => [join(EXAMPLES, 'ex1_query_image.png'), '--prompt-image', join(EXAMPLES, 'ex1_prompt_image.png'), '--prompt-mask', join(EXAMPLES, 'ex1_prompt_mask.png'), '--model', EXAMPLES], /not a SegGPT model folder/],
  ] as const)('%s: one line naming the fix, exit 1', async (_name, args, message) => {
    const r = await run(['segment', ...args(), '--output', join(work, 'errors')]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });
});

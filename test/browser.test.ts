/**
 * The browser demo (examples/browser) in headless Chromium: WASM and WebGPU (SwiftShader) against Node's CPU results on
 * the same converted models. Everything is served from 127.0.0.1; any other request fails the suite.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { Tensor } from '@huggingface/transformers';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { SegGPTForImageSegmentation, SegGPTImageProcessor, SegGPTSegmenter, type SegGPTPrediction } from '../src/index.node.js';
import { maskIoU, tinyCaseInputs, tinyCaseKwargs } from './support/backend_cases.js';
import { launchChromium } from '../dev/chromium.js';
import { TINY, tinyCases, type TinyCase } from './support/fixtures.js';
import { absDiff } from '../dev/npy.js';
import { startStaticServer, type StaticServer } from '../dev/static_server.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHAPES_CHECKPOINT = join(REPO, 'models', 'seggpt-shapes');
const SHAPES_EXAMPLES = join(REPO, 'examples', 'shapes');
/** Screenshots land here (git-ignored); look at them when changing the page. */
const OUTPUT = process.env.SEGGPT_TEST_OUTPUT ?? join(REPO, 'test', 'scratch', 'browser');

// Tolerances on pred_masks (values of magnitude ≤ 7), each against Node's onnxruntime CPU on the same ONNX file:
// - wasm fp32: the same graph in float32 with other kernels (SIMD summation order): rounding only, ~1e-5 (observed
//   ≤ 1e-5); 1e-4 is the fixtures' safe bound for an fp32 port.
const WASM_FP32_TOLERANCE = 1e-4;
// - webgpu fp32: GPU kernels may also use fused/approximate math (exp, erf, tiled reductions) on real hardware;
//   SwiftShader stays near 1e-5, 1e-3 is the portable bound.
const WEBGPU_FP32_TOLERANCE = 1e-3;
// - wasm q8 vs Node q8: both run the same integer graph, but activations are quantised dynamically (per tensor), so
//   the output is discontinuous: a float32 rounding difference that moves one activation across a rounding boundary
//   shifts it by a whole quantisation step, and the random-weight tiny model spreads that over the output (Node's own
//   q8 output moves by 0.14 on case 05 when its input is perturbed by 2e-6). So: most cases must agree like fp32
//   (≤ 1e-4; 5 of the 7 do here), and every case must carry the same quantisation error as Node's q8 (distance to Node
//   fp32: mean within +10 %, max within +50 %).
const Q8_TOLERANCE = 1e-4;
const Q8_MIN_EXACT_CASES = 5;
const Q8_MEAN_ERROR_RATIO = 1.1;
const Q8_MAX_ERROR_RATIO = 1.5;
// - webgpu fp16 (only where the adapter has shader-f16): half-precision storage and math; Node's CPU fp16 model is
//   already ~1e-2 from fp32 on these magnitudes, so 5e-2 from Node fp32.
const WEBGPU_FP16_TOLERANCE = 5e-2;

/** WebGPU on SwiftShader takes seconds per run (it emulates workgroup barriers on the CPU): a representative subset. */
const WEBGPU_CASES = ['01_single_binary_semantic', '04_two_prompts_feature_ensemble'];

interface EncodedTensor {
  dims: number[];
  data: string;
}
type Failure = { ok: false; error: { name: string; message: string } };
type RunModelResult = { ok: true; pred_masks: EncodedTensor; run_seconds: number } | Failure;
type RunVideoResult =
  | { ok: true; frames: { width: number; height: number; mask: string; prompts: number; run_seconds: number }[]; longest_main_thread_task_ms: number }
  | Failure;
type RunCaseResult =
  | { ok: true; width: number; height: number; segmentation: string; mask: string; run_seconds: number; iou_target: number | null }
  | Failure;

const encode = (t: Tensor): EncodedTensor => {
  const data = t.data as Float32Array;
  return { dims: [...t.dims], data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
};
const decodeFloat32 = (text: string) => {
  const bytes = Buffer.from(text, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const decodeBytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));

let work: string;
let server: StaticServer;
let browser: Browser;
let page: Page;
const external: string[] = [];
const pageErrors: string[] = [];
const cases = tinyCases();
/** Node CPU pred_masks per dtype and case. */
const nodeResults: Record<'fp32' | 'q8', Map<string, Float32Array>> = { fp32: new Map(), q8: new Map() };

async function nodeReference(dir: string, dtype: 'fp32' | 'q8'): Promise<void> {
  const model = await SegGPTForImageSegmentation.from_pretrained(dir, { device: 'cpu', dtype });
  for (const c of cases) {
    const { pred_masks } = await model(tinyCaseInputs(c), tinyCaseKwargs(c));
    nodeResults[dtype].set(c.name, pred_masks.data as Float32Array);
  }
  await model.dispose();
}

async function runInPage(c: TinyCase, device: 'wasm' | 'webgpu', dtype: string): Promise<RunModelResult> {
  const inputs = tinyCaseInputs(c);
  const request = {
    model: 'seggpt-tiny',
    device,
    dtype,
    inputs: { pixel_values: encode(inputs.pixel_values), prompt_pixel_values: encode(inputs.prompt_pixel_values), prompt_masks: encode(inputs.prompt_masks) },
    ...tinyCaseKwargs(c),
  };
  return page.evaluate((r) => (window as any).seggptDemo.runModel(r), request);
}

function predMasks(result: RunModelResult, c: TinyCase): Float32Array {
  if (!result.ok) throw new Error(`${c.name}: the page failed: ${result.error.name}: ${result.error.message}`);
  expect(result.pred_masks.dims.slice(1), c.name).toEqual([3, 128, 64]);
  return decodeFloat32(result.pred_masks.data);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-browser-'));
  const models = join(work, 'models');
  const dist = join(work, 'dist');
  // The page is built exactly as `npm run build:example` builds it, into a temporary folder.
  const build = promisify(execFile)(process.execPath, [join(REPO, 'examples', 'browser', 'build.mjs'), '--outdir', dist, '--no-model'], { cwd: REPO });
  await convertCheckpoint({ checkpoint: TINY, output: join(models, 'seggpt-tiny'), dtypes: 'fp32,fp16,q8' });
  await convertCheckpoint({ checkpoint: SHAPES_CHECKPOINT, output: join(models, 'seggpt-shapes'), dtypes: 'fp32' });
  await build;
  await nodeReference(join(models, 'seggpt-tiny'), 'fp32');
  await nodeReference(join(models, 'seggpt-tiny'), 'q8');

  server = await startStaticServer({ '/': join(REPO, 'examples', 'browser'), '/dist/': dist, '/dist/models/': models });
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1150, height: 1000 } });
  page.on('request', (request) => {
    if (!request.url().startsWith(server.url) && !request.url().startsWith('data:') && !request.url().startsWith('blob:')) {
      external.push(request.url());
    }
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${server.url}index.html`);
  await page.evaluate(() => (window as any).seggptDemo.ready);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('browser demo, model class on the seggpt-tiny fixture arrays', () => {
  test('wasm fp32 matches Node CPU fp32 on every case', async () => {
    for (const c of cases) {
      const diff = absDiff(predMasks(await runInPage(c, 'wasm', 'fp32'), c), nodeResults.fp32.get(c.name)!);
      expect(diff.max, c.name).toBeLessThan(WASM_FP32_TOLERANCE);
    }
  });

  test('wasm q8 agrees with Node CPU q8 (up to quantisation-step flips)', async () => {
    const exact: string[] = [];
    for (const c of cases) {
      const browserQ8 = predMasks(await runInPage(c, 'wasm', 'q8'), c);
      const nodeQ8 = nodeResults.q8.get(c.name)!;
      const nodeFp32 = nodeResults.fp32.get(c.name)!;
      if (absDiff(browserQ8, nodeQ8).max <= Q8_TOLERANCE) exact.push(c.name);
      const browserError = absDiff(browserQ8, nodeFp32);
      const nodeError = absDiff(nodeQ8, nodeFp32);
      expect(browserError.mean, c.name).toBeLessThanOrEqual(nodeError.mean * Q8_MEAN_ERROR_RATIO);
      expect(browserError.max, c.name).toBeLessThanOrEqual(nodeError.max * Q8_MAX_ERROR_RATIO);
    }
    expect(exact.length, `cases within ${Q8_TOLERANCE}: ${exact.join(', ')}`).toBeGreaterThanOrEqual(Q8_MIN_EXACT_CASES);
  });

  test('webgpu fp32 matches Node CPU fp32', async () => {
    for (const name of WEBGPU_CASES) {
      const c = cases.find((x) => x.name === name)!;
      const diff = absDiff(predMasks(await runInPage(c, 'webgpu', 'fp32'), c), nodeResults.fp32.get(c.name)!);
      expect(diff.max, c.name).toBeLessThan(WEBGPU_FP32_TOLERANCE);
    }
  });

  test('webgpu fp16: runs where the adapter has shader-f16, else fails with a BackendError naming f16', async () => {
    const features: string[] | null = await page.evaluate(() => (window as any).seggptDemo.webgpuFeatures());
    expect(features, 'Chromium offers a WebGPU adapter').not.toBeNull();
    const c = cases[0];
    const result = await runInPage(c, 'webgpu', 'fp16');
    if (features!.includes('shader-f16')) {
      const diff = absDiff(predMasks(result, c), nodeResults.fp32.get(c.name)!);
      expect(diff.max).toBeLessThan(WEBGPU_FP16_TOLERANCE);
    } else {
      // SwiftShader (this CI) has no shader-f16: the fp16 graph cannot run; the user is told why and what to use.
      expect(result.ok).toBe(false);
      const { error } = result as Failure;
      expect(error.name).toBe('BackendError');
      expect(error.message).toMatch(/fp16|shader-f16/);
      expect(error.message).toMatch(/fp32/);
    }
  });
});

describe('browser demo, full page path on seggpt-shapes', () => {
  /** Node: the same PNG files through the library's segmentation flow (SegGPTSegmenter, CPU fp32), as the page calls it. */
  async function nodeShapesMask(example: { query: string; prompts: string[]; masks: string[]; feature_ensemble: boolean }) {
    const dir = join(work, 'models', 'seggpt-shapes');
    const processor = await SegGPTImageProcessor.from_pretrained(dir);
    const model = await SegGPTForImageSegmentation.from_pretrained(dir, { device: 'cpu', dtype: 'fp32' });
    const [prediction] = await new SegGPTSegmenter(model, processor).segment(join(SHAPES_EXAMPLES, example.query), {
      prompt_images: example.prompts.map((f) => join(SHAPES_EXAMPLES, f)),
      prompt_masks: example.masks.map((f) => join(SHAPES_EXAMPLES, f)),
      embedding_type: 'semantic',
      ...(example.feature_ensemble && { feature_ensemble: true }),
    });
    await model.dispose();
    return { dims: [prediction.height, prediction.width], values: prediction.levels!, mask: Uint8Array.from(prediction.ids) };
  }

  async function runExample(example: string): Promise<Extract<RunCaseResult, { ok: true }>> {
    const result: RunCaseResult = await page.evaluate(
      (name) => (window as any).seggptDemo.runCase({ example: name, model: 'seggpt-shapes', device: 'wasm', dtype: 'fp32' }),
      example,
    );
    if (!result.ok) throw new Error(`${example}: the page failed: ${result.error.name}: ${result.error.message}`);
    return result;
  }

  test('ex3 (one prompt): the page shows the mask Node computes (IoU ≥ 0.99)', async () => {
    const shown = await runExample('ex3');
    const node = await nodeShapesMask({ query: 'ex3_query_image.png', prompts: ['ex3_prompt_image.png'], masks: ['ex3_prompt_mask.png'], feature_ensemble: false });
    expect([shown.height, shown.width]).toEqual(node.dims);
    expect(maskIoU(decodeBytes(shown.mask), node.mask)).toBeGreaterThanOrEqual(0.99);
    const segmentation = decodeBytes(shown.segmentation);
    const differing = segmentation.filter((v, i) => Math.abs(v - node.values[i]) > 1).length;
    expect(differing).toBe(0);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, 'demo-ex3-wasm.png'), fullPage: true });
  });

  test('ex6 (two prompts, feature ensemble): the page shows the mask Node computes (IoU ≥ 0.99)', async () => {
    const shown = await runExample('ex6');
    const node = await nodeShapesMask({
      query: 'ex6_query_image.png',
      prompts: ['ex6_prompt_image_0.png', 'ex6_prompt_image_1.png'],
      masks: ['ex6_prompt_mask_0.png', 'ex6_prompt_mask_1.png'],
      feature_ensemble: true,
    });
    expect(maskIoU(decodeBytes(shown.mask), node.mask)).toBeGreaterThanOrEqual(0.99);
  });

  test('video: frames stream through the worker with the memory of predictions, as propagate gives them in Node', async () => {
    const files = ['ex3_query_image.png', 'ex1_query_image.png', 'ex3_query_image.png', 'ex5_query_image.png'];
    const request = { example: 'ex3', model: 'seggpt-shapes', device: 'wasm', dtype: 'fp32', memory: 2, frames: files.map((f) => `${server.url}dist/shapes/${f}`) };
    const shown: RunVideoResult = await page.evaluate((r) => (window as any).seggptDemo.runVideo(r), request);
    if (!shown.ok) throw new Error(`the page failed: ${shown.error.name}: ${shown.error.message}`);
    expect(shown.frames.map((f) => f.prompts)).toEqual([1, 2, 3, 3]);

    const dir = join(work, 'models', 'seggpt-shapes');
    const processor = await SegGPTImageProcessor.from_pretrained(dir);
    const model = await SegGPTForImageSegmentation.from_pretrained(dir, { device: 'cpu', dtype: 'fp32' });
    const node: SegGPTPrediction[] = [];
    const options = { prompt_images: join(SHAPES_EXAMPLES, 'ex3_prompt_image.png'), prompt_masks: join(SHAPES_EXAMPLES, 'ex3_prompt_mask.png'), embedding_type: 'semantic' as const, memory: 2 };
    for await (const p of new SegGPTSegmenter(model, processor).propagate(files.map((f) => join(SHAPES_EXAMPLES, f)), options)) node.push(p);
    await model.dispose();
    shown.frames.forEach((frame, t) => {
      expect([frame.height, frame.width]).toEqual([node[t].height, node[t].width]);
      expect(maskIoU(decodeBytes(frame.mask), Uint8Array.from(node[t].ids)), `frame ${t}`).toBeGreaterThanOrEqual(0.99);
    });
    // The model runs in the worker: the page's main thread is never blocked for long (a frame takes far longer).
    expect(shown.longest_main_thread_task_ms).toBeLessThan(250);
    expect(Math.min(...shown.frames.map((f) => f.run_seconds)) * 1000).toBeGreaterThan(shown.longest_main_thread_task_ms);
  });

  test('video: Stop ends the run after the current frame', async () => {
    const frames = Array.from({ length: 6 }, () => `${server.url}dist/shapes/ex3_query_image.png`);
    const shown: RunVideoResult = await page.evaluate((r) => (window as any).seggptDemo.runVideo(r), { example: 'ex3', model: 'seggpt-shapes', device: 'wasm', dtype: 'fp32', frames, stop_after: 2 });
    if (!shown.ok) throw new Error(`the page failed: ${shown.error.name}: ${shown.error.message}`);
    expect(shown.frames.length).toBeGreaterThanOrEqual(2);
    expect(shown.frames.length).toBeLessThan(6);
    expect(await page.textContent('#video-status')).toMatch(/^Stopped/);
  });

  test('a mask painted with the brush is used as the prompt', async () => {
    // ex3's prompt: segment "all blue shapes"; repaint the blue circle by hand instead of loading its mask.
    const loaded: RunCaseResult = await page.evaluate(() => (window as any).seggptDemo.runCase({ example: 'ex3', model: 'seggpt-shapes', device: 'wasm', dtype: 'fp32' }));
    expect(loaded.ok).toBe(true);
    await page.click('.prompt button.clear-mask');
    const empty: RunCaseResult = await page.evaluate(() => (window as any).seggptDemo.runCase({}));
    expect(empty.ok).toBe(false);
    expect((empty as Failure).error.message).toMatch(/mask is empty/);

    // The blue circle of ex3_prompt_image.png (109×153) is centred near (84, 45) with a radius of ~16 px.
    const view = await page.locator('.prompt canvas.prompt-view').boundingBox();
    const scale = view!.width / 109;
    await page.$eval('.prompt input.brush-size', (input) => ((input as HTMLInputElement).value = '8'));
    for (let dy = -12; dy <= 12; dy += 4) {
      const half = Math.sqrt(13 * 13 - dy * dy);
      await page.mouse.move(view!.x + (84 - half) * scale, view!.y + (45 + dy) * scale);
      await page.mouse.down();
      await page.mouse.move(view!.x + (84 + half) * scale, view!.y + (45 + dy) * scale, { steps: 6 });
      await page.mouse.up();
    }
    const painted: RunCaseResult = await page.evaluate(() => (window as any).seggptDemo.runCase({}));
    if (!painted.ok) throw new Error(`${painted.error.name}: ${painted.error.message}`);
    // The hand-painted disc is close to the stored mask, so the answer finds the blue square again.
    expect(painted.iou_target).toBeGreaterThan(0.5);
    await page.screenshot({ path: join(OUTPUT, 'demo-ex3-painted.png'), fullPage: true });
  });
});

// Last in the file (tests run in order): every request of the suite has been made by now.
test('the page loaded everything from 127.0.0.1 and raised no uncaught errors', () => {
  expect(external).toEqual([]);
  expect(pageErrors).toEqual([]);
  expect(server.misses).toEqual([]);
});

/**
 * A Hugging Face SegGPT checkpoint (safetensors only) loaded by hub id in headless Chromium, from an app bundled with
 * esbuild from the package as a user's app is bundled: the weights are read with Range requests, the requested
 * variant is converted in the page (or a Web Worker) and stored in Cache Storage; the next page loads it from there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildBrowserApp } from '../dev/browser_app.js';
import { launchChromium } from '../dev/chromium.js';
import { absDiff, readNpy } from '../dev/npy.js';
import { startStaticServer, type StaticServer } from '../dev/static_server.js';
import { tinyCaseInputs, tinyCaseKwargs } from './support/backend_cases.js';
import { TINY, tinyCases, type TinyCase } from './support/fixtures.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';
import { VARIANT_MEAN_ABS_BOUND } from './support/tolerances.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const REPO = 'BAAI/seggpt-vit-large';
/** WebAssembly fp32 against the PyTorch reference: float32 with other summation orders (observed ≤ 1e-5). */
const WASM_FP32_TOLERANCE = 1e-4;
/** WebGPU (SwiftShader here) may use fused or approximate math; 1e-3 is the portable bound. */
const WEBGPU_FP32_TOLERANCE = 1e-3;

let work: string;
let hub: HubServer;
let server: StaticServer;
let browser: Browser;
let context: BrowserContext;
const pageErrors: string[] = [];
const cases = tinyCases();

type Result = { ok: true; results: { name: string; dims: number[]; data: string }[]; load_seconds: number; events: any[] } | { ok: false; error: { name: string; message: string } };

const encode = (view: Float32Array) => Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
const decode = (text: string) => {
  const bytes = Buffer.from(text, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
};
const request = (c: TinyCase) => {
  const inputs = tinyCaseInputs(c);
  return {
    name: c.name,
    inputs: Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, { dims: t.dims, data: encode(t.data as Float32Array) }])),
    kwargs: tinyCaseKwargs(c),
  };
};

async function newPage(): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${server.url}index.html`);
  await page.waitForFunction(() => (window as any).seggptApp?.ready);
  await page.evaluate((hostUrl) => (window as any).seggptApp.configure({ remoteHost: hostUrl, wasmPaths: new URL('/ort/', location.href).href }), `${hub.url}/`);
  return page;
}

const run = (page: Page, args: object): Promise<Result> => page.evaluate((a) => (window as any).seggptApp.runCases(a), args);

function predMasks(result: Result): Map<string, Float32Array> {
  if (!result.ok) throw new Error(`the page failed: ${result.error.name}: ${result.error.message}`);
  return new Map(result.results.map((r) => [r.name, decode(r.data)]));
}

const referencePredMasks = (c: TinyCase) => readNpy(join(c.dir, 'pred_masks.npy')).data as Float32Array;
const hubRequests = (from: number) => hub.received.requests.slice(from);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-browser-first-load-'));
  const out = join(work, 'www');
  await buildBrowserApp(out, work);
  hub = await startHubServer({
    resolveOnly: true,
    separateCdn: true,
    repos: { [REPO]: { files: Object.fromEntries(['config.json', 'preprocessor_config.json', 'model.safetensors'].map((f) => [f, join(TINY, f)])) } },
  });
  server = await startStaticServer({ '/': out, '/ort/': join(ROOT, 'node_modules', 'onnxruntime-web', 'dist'), '/cases/': join(TINY, 'cases') });
  browser = await launchChromium();
  context = await browser.newContext();
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.close().catch(() => undefined);
  if (work) rmSync(work, { recursive: true, force: true });
});

describe(`${REPO} (seggpt-tiny's safetensors) by id in Chromium`, () => {
  let firstLoad: number;

  test('wasm fp32: converted in the page, every case matches the reference', async () => {
    firstLoad = hub.received.requests.length;
    const page = await newPage();
    const result = await run(page, { id: REPO, options: { device: 'wasm', dtype: 'fp32' }, cases: cases.map(request) });
    const got = predMasks(result);
    for (const c of cases) expect(absDiff(got.get(c.name)!, referencePredMasks(c)).max, c.name).toBeLessThan(WASM_FP32_TOLERANCE);
    const cached: string[] = await page.evaluate(() => (window as any).seggptApp.cachedURLs());
    expect(cached.some((u) => u.endsWith(`/${REPO}/resolve/main~seggpt-onnx-v1/onnx/model.onnx`)), cached.join('\n')).toBe(true);
    await page.close();
  });

  test('the weights came with Range requests only (through the cross-origin redirect), nothing from /api', () => {
    const requests = hubRequests(firstLoad).filter((r) => r.method !== 'OPTIONS');
    expect(requests.filter((r) => r.url.startsWith('/api'))).toEqual([]);
    const weights = requests.filter((r) => r.origin === 'cdn');
    expect(weights.length).toBeGreaterThan(0);
    for (const r of weights) {
      expect(r.range).toMatch(/^bytes=\d+-\d+$/);
      const [start, end] = r.range!.slice('bytes='.length).split('-').map(Number);
      expect(end - start + 1).toBeLessThanOrEqual(16 * 1024 * 1024);
    }
    expect(requests.filter((r) => r.url.includes('seggpt-onnx'))).toEqual([]);
  });

  test('the full public path on PNGs (AutoProcessor → model → post-processing, and the pipeline) gives the reference map', async () => {
    const page = await newPage();
    const c = cases[0];
    const image = (f: string) => `/cases/${c.name}/${f}`;
    const result = await page.evaluate(
      (a) => (window as any).seggptApp.segment(a),
      { id: REPO, options: { device: 'wasm', dtype: 'fp32' }, image: image('image_0.png'), prompt: image('prompt_image_0.png'), mask: image('prompt_mask_0.png'), kwargs: c.json.model_call.kwargs },
    );
    if (!result.ok) throw new Error(`${result.error.name}: ${result.error.message}`);
    const reference = readNpy(join(c.dir, 'segmentation_0.npy'));
    expect(result.dims).toEqual(reference.shape);
    const got = new Int32Array(Buffer.from(result.segmentation, 'base64').buffer.slice(0));
    let offByOne = 0;
    (reference.data as BigInt64Array).forEach((v, i) => {
      const d = Math.abs(got[i] - Number(v));
      expect(d).toBeLessThanOrEqual(1);
      offByOne += d;
    });
    expect(offByOne).toBeLessThanOrEqual(c.json.decision_margins?.[0]?.['pixels_below_1e-3'] ?? 0);
    expect(result.segments).toBeGreaterThan(0);
    await page.close();
  });

  test('a fresh page loads the conversion from Cache Storage: no request for the weights, none at all', async () => {
    const before = hub.received.requests.length;
    const page = await newPage();
    const result = await run(page, { id: REPO, options: { device: 'wasm', dtype: 'fp32' }, cases: [request(cases[1])] });
    expect(absDiff(predMasks(result).get(cases[1].name)!, referencePredMasks(cases[1])).max).toBeLessThan(WASM_FP32_TOLERANCE);
    expect(hubRequests(before)).toEqual([]);
    await page.close();
  });

  test('wasm q8: converted on first use, within its tolerance', async () => {
    const page = await newPage();
    const got = predMasks(await run(page, { id: REPO, options: { device: 'wasm', dtype: 'q8' }, cases: cases.map(request) }));
    for (const c of cases) {
      const d = absDiff(got.get(c.name)!, referencePredMasks(c));
      expect(d.mean, c.name).toBeLessThan(VARIANT_MEAN_ABS_BOUND.q8);
    }
    await page.close();
  });

  test('without a dtype, WebAssembly gets q8 (already converted: nothing is fetched)', async () => {
    const before = hub.received.requests.length;
    const page = await newPage();
    const result = await run(page, { id: REPO, options: { device: 'wasm' }, cases: [request(cases[0])] });
    expect(result.ok).toBe(true);
    expect(hubRequests(before)).toEqual([]);
    await page.close();
  });

  test('webgpu (SwiftShader) fp32 after a conversion in a module Web Worker', async () => {
    const page = await newPage();
    await page.evaluate((hostUrl) => (window as any).seggptApp.inWorker('configure', [{ remoteHost: hostUrl, wasmPaths: new URL('/ort/', location.href).href }]), `${hub.url}/`);
    const before = hub.received.requests.length;
    // q4 has not been converted yet: the worker reads the weights and converts it.
    const inWorker = await page.evaluate((c) => (window as any).seggptApp.inWorker('runCases', [{ id: 'BAAI/seggpt-vit-large', options: { device: 'wasm', dtype: 'q4' }, cases: [c] }]), request(cases[0]));
    const q4 = predMasks(inWorker).get(cases[0].name)!;
    expect(absDiff(q4, referencePredMasks(cases[0])).mean).toBeLessThan(VARIANT_MEAN_ABS_BOUND.q4);
    expect(hubRequests(before).some((r) => r.origin === 'cdn')).toBe(true);
    const gpu = predMasks(await run(page, { id: REPO, options: { device: 'webgpu', dtype: 'fp32' }, cases: [request(cases[0]), request(cases[3])] }));
    for (const c of [cases[0], cases[3]]) expect(absDiff(gpu.get(c.name)!, referencePredMasks(c)).max, c.name).toBeLessThan(WEBGPU_FP32_TOLERANCE);
    await page.close();
  });

  test('a new revision converts again', async () => {
    await hub.setFiles(REPO, 'v2', Object.fromEntries(['config.json', 'preprocessor_config.json', 'model.safetensors'].map((f) => [f, join(TINY, f)])));
    const before = hub.received.requests.length;
    const page = await newPage();
    const result = await run(page, { id: REPO, options: { device: 'wasm', dtype: 'fp32', revision: 'v2' }, cases: [request(cases[0])] });
    expect(absDiff(predMasks(result).get(cases[0].name)!, referencePredMasks(cases[0])).max).toBeLessThan(WASM_FP32_TOLERANCE);
    expect(hubRequests(before).some((r) => r.url === `/${REPO}/resolve/v2/model.safetensors`)).toBe(true);
    await page.close();
  });

  test('with the hub stopped, a fresh page still loads what was converted (also with local_files_only)', async () => {
    await hub.close();
    const page = await newPage();
    const result = await run(page, { id: REPO, options: { device: 'wasm', dtype: 'q8' }, cases: [request(cases[2])] });
    expect(result.ok, JSON.stringify(!result.ok && result.error)).toBe(true);
    await page.evaluate((hostUrl) => (window as any).seggptApp.configure({ remoteHost: hostUrl, wasmPaths: new URL('/ort/', location.href).href, allowLocalModels: true }), `${hub.url}/`);
    const offline = await run(page, { id: REPO, options: { device: 'wasm', dtype: 'fp32', local_files_only: true }, cases: [request(cases[2])] });
    expect(offline.ok, JSON.stringify(!offline.ok && offline.error)).toBe(true);
    const never = await run(page, { id: 'someone/never-loaded', options: { device: 'wasm' }, cases: [] });
    expect(never.ok).toBe(false);
    expect(!never.ok && never.error.name).toBe('HubError');
    expect(!never.ok && never.error.message).toMatch(/cannot reach 127\.0\.0\.1:\d+ to load "someone\/never-loaded"/);
    await page.close();
  });

  test('no uncaught errors in any page', () => {
    expect(pageErrors).toEqual([]);
  });
});

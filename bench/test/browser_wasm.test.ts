/**
 * bench:browser's probes and reports: the wasm probe in a worker-like context, the sections of a multi-variant and a
 * profiled run, and, in headless Chromium on the seggpt-tiny fixture, that the demo's worker runs ONNX Runtime Web with
 * the threads it chose (or `?threads=N`), that the probe reads the heap and pthreads of that worker, and that the
 * profile worker returns onnxruntime's profile.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runInNewContext } from 'node:vm';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { launchChromium } from '../../dev/chromium.js';
import { startStaticServer, type StaticServer } from '../../dev/static_server.js';
import { convertCheckpoint } from '../../src/conversion/node/convert.js';
import { TINY, tinyCases } from '../../test/support/fixtures.js';
import { tinyCaseInputs, tinyCaseKwargs } from '../../test/support/backend_cases.js';
import { buildProfileWorker, runProfileWorker } from '../browser/profile.js';
import { joinByOp, profileSection, variantsSection, type ProfileResult, type VariantsResult } from '../browser/report.js';
import { addWasmProbe, heapBytes, injectWorkerProbe, readWasmProbe, workerProbeSource } from '../browser/wasm_probe.js';
import { summariseTrace } from '../profile_trace.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const comparison = { max_abs: 0.08, mean_abs: 0.01, binary_agreement: 0.994 };
const attention = { form: 'fused' as const, multi_head_attention_nodes: 24, requested: null };

describe('wasm probe', () => {
  test('in a worker-like scope: records memories, the workers it starts and its URL', () => {
    const started: unknown[][] = [];
    class FakeWorker {
      constructor(...args: unknown[]) {
        started.push(args);
      }
    }
    // A copy of the namespace: the probe replaces WebAssembly.Memory in the scope it runs in.
    const wasm = { Memory: WebAssembly.Memory, Instance: WebAssembly.Instance, instantiate: WebAssembly.instantiate, instantiateStreaming: async () => undefined };
    const scope: Record<string, unknown> = {
      WebAssembly: wasm,
      SharedArrayBuffer,
      Worker: FakeWorker,
      navigator: { hardwareConcurrency: 2 },
      location: { href: 'http://127.0.0.1/dist/worker.js' },
      crossOriginIsolated: true,
    };
    runInNewContext(`${workerProbeSource()}
      const heap = new WebAssembly.Memory({ initial: 2, maximum: 65536, shared: true });
      new Worker('ort.mjs', { type: 'module', name: 'em-pthread' });
      new Worker('other.js');`, scope);
    const state = (scope.__wasmProbe as () => any)();
    expect(state.url).toBe('http://127.0.0.1/dist/worker.js');
    expect(state.cross_origin_isolated).toBe(true);
    expect(state.memories).toEqual([{ bytes: 2 * 65536, maximum_pages: 65536, shared: true }]);
    expect(state.workers).toEqual(['em-pthread', 'other.js']);
    expect(started).toHaveLength(2);
    expect(heapBytes(state)).toBe(2 * 65536);
    // It wrapped the copy, not this process's constructor.
    expect(wasm.Memory).not.toBe(WebAssembly.Memory);
  });

  test('injectWorkerProbe prepends the probe once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seggpt-probe-'));
    try {
      const file = join(dir, 'worker.js');
      writeFileSync(file, 'self.onmessage = () => {};\n');
      injectWorkerProbe(file);
      injectWorkerProbe(file);
      const text = readFileSync(file, 'utf8');
      expect(text.match(/__wasmProbe\) return/g)).toHaveLength(1);
      expect(text.endsWith('self.onmessage = () => {};\n')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('reports', () => {
  test('variants: ratio per variant, failures named, the target judged on the browser default', () => {
    const result: VariantsResult = {
      command: 'npm run build && npm run bench:browser -- --dtypes q8,q4f16',
      date: '2026-12-02T00:00:00Z',
      chromium: 'Chromium 1',
      onnxruntime_web: '1.31',
      onnxruntime_node: '1.31',
      cores: 2,
      load_average: { start: 1, end: 1 },
      attention,
      browser_default: 'q8',
      target_ratio: 3,
      runs: 1,
      total_seconds: 600,
      rows: [
        {
          dtype: 'q8',
          file: 'model_quantized.onnx',
          bytes: 330e6,
          browser: { ok: true, load_seconds: 7, run_seconds: 28, heap_peak: 2 ** 30, threads: 2, run_parallelism: 1.9, vs_reference: comparison, vs_node: comparison },
          node: { ok: true, run_seconds: 10, run_parallelism: 2, vs_reference: comparison },
        },
        { dtype: 'q4f16', file: 'model_q4f16.onnx', bytes: 200e6, browser: { ok: false, error: 'BackendError: no kernel' }, node: { ok: true, run_seconds: 30, run_parallelism: 2, vs_reference: comparison } },
      ],
    };
    const text = variantsSection(result);
    expect(text).toContain('| **q8** (default) | 330 | 7.0 s | 28.0 s (1.90) | 10.0 s (2.00) | 2.80× | 1.00 GiB |');
    expect(text).toContain('failed: BackendError: no kernel');
    expect(text).toContain('2.80× — met');
  });

  test('profile: ops joined across runtimes, shares of the gap', () => {
    const rows = joinByOp(
      [
        { key: 'DynamicQuantizeMatMul', ms: 20000, calls: 97, share: 0.6 },
        { key: 'MultiHeadAttention', ms: 10000, calls: 24, share: 0.3 },
      ],
      [
        { key: 'MultiHeadAttention', ms: 5000, calls: 24, share: 0.5 },
        { key: 'DynamicQuantizeMatMul', ms: 5000, calls: 97, share: 0.5 },
        { key: 'ReorderInput', ms: 10, calls: 1, share: 0 },
      ],
    );
    expect(rows.map((r) => r.op)).toEqual(['DynamicQuantizeMatMul', 'MultiHeadAttention', 'ReorderInput']);
    const profile: ProfileResult = {
      dtype: 'q8',
      date: '2026-12-02T00:00:00Z',
      threads: 2,
      attention,
      browser: { run_seconds: 31, kernel_ms: 30000 },
      node: { run_seconds: 10.2, kernel_ms: 10000 },
      unprofiled: { browser_seconds: 28, node_seconds: 10 },
      rows,
      patterns: [{ key: 'MultiHeadAttention model.encoder.layers.N.attention.mha', browser_ms: 10000, node_ms: 5000 }],
    };
    const text = profileSection([profile]);
    expect(text).toContain('| DynamicQuantizeMatMul | 20.00 | 97 | 5.00 | 97 | 4.00× | 75.0 % |');
    expect(text).toContain('| MultiHeadAttention | 10.00 | 24 | 5.00 | 24 | 2.00× | 25.0 % |');
    expect(text).toContain('| ReorderInput | 0.00 | 0 | 0.01 | 1 | – |');
    expect(text).toContain('| run (wall, unprofiled: the demo; Node) | 28.00 |  | 10.00 |  | 2.80× |  |');
  });
});

describe('the demo in Chromium (seggpt-tiny q8)', () => {
  let work: string;
  let server: StaticServer;
  let browser: Browser;
  const c = tinyCases().find((x) => x.name === '01_single_binary_semantic')!;
  const encode = (data: Float32Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64');

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'seggpt-bench-browser-test-'));
    const dist = join(work, 'dist');
    const models = join(work, 'models');
    const build = promisify(execFile)(process.execPath, [join(REPO, 'examples', 'browser', 'build.mjs'), '--outdir', dist, '--no-model'], { cwd: REPO });
    await convertCheckpoint({ checkpoint: TINY, output: join(models, 'seggpt-tiny'), dtypes: 'q8' });
    await build;
    injectWorkerProbe(join(dist, 'worker.js'));
    await buildProfileWorker(REPO, dist);
    server = await startStaticServer({ '/': join(REPO, 'examples', 'browser'), '/dist/': dist, '/dist/models/': models });
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function open(query: string): Promise<Page> {
    const page = await browser.newPage();
    await addWasmProbe(page, null);
    await page.goto(`${server.url}index.html${query}`);
    await page.evaluate(() => (window as any).seggptDemo.ready);
    return page;
  }

  async function load(page: Page): Promise<void> {
    const tiny = { dims: [1, 3, 1, 1], data: encode(new Float32Array(3)) };
    const result = await page.evaluate(
      (r) => (window as any).seggptDemo.runModel(r),
      { model: 'seggpt-tiny', device: 'wasm', dtype: 'q8', inputs: { pixel_values: tiny, prompt_pixel_values: tiny, prompt_masks: tiny } },
    );
    // The 1×1 input is refused once the model has loaded.
    expect(result.ok ? 'accepted' : result.error.name).toBe('InputError');
  }

  test("the worker picks min(4, cores) threads; the probe sees that worker's heap and pthreads", async () => {
    const page = await open('');
    try {
      const setup = await page.evaluate(() => (window as any).seggptDemo.workerSetup());
      expect(setup.crossOriginIsolated).toBe(true);
      expect(setup.numThreads).toBe(Math.max(1, Math.min(4, setup.hardwareConcurrency)));
      expect(setup.hardwareConcurrency).toBeGreaterThanOrEqual(Math.min(availableParallelism(), 2));
      await load(page);
      const state = await readWasmProbe(page);
      const worker = state.contexts.find((x) => x.url.endsWith('/dist/worker.js'));
      expect(worker, JSON.stringify(state.contexts.map((x) => x.url))).toBeDefined();
      expect(worker!.workers.filter((w) => w === 'em-pthread')).toHaveLength(setup.numThreads - 1);
      // ORT's heap (16 MiB at least: its initial size) lives in the worker; the page loads no ORT.
      expect(heapBytes(worker!)).toBeGreaterThanOrEqual(16 * 2 ** 20);
      expect(heapBytes(state.contexts[0])).toBeLessThan(heapBytes(worker!));
    } finally {
      await page.close();
    }
  });

  test('?threads=3 in the page URL sets the worker to 3 threads (2 pthread workers)', async () => {
    const page = await open('?threads=3');
    try {
      expect((await page.evaluate(() => (window as any).seggptDemo.workerSetup())).numThreads).toBe(3);
      await load(page);
      const state = await readWasmProbe(page);
      expect(state.workers.filter((w) => w === 'em-pthread')).toHaveLength(2);
    } finally {
      await page.close();
    }
  });

  test("the profile worker returns onnxruntime's profile of one run", async () => {
    const page = await open('');
    try {
      const inputs = tinyCaseInputs(c);
      const tensor = (t: { dims: readonly number[]; data: unknown }) => ({ dims: [...t.dims], data: encode(t.data as Float32Array) });
      const kwargs = tinyCaseKwargs(c) as { embedding_type?: 'semantic' | 'instance'; feature_ensemble?: boolean };
      const answer = await runProfileWorker(page, {
        localModelPath: '/dist/models/',
        numThreads: 2,
        model: 'seggpt-tiny',
        dtype: 'q8',
        inputs: { pixel_values: tensor(inputs.pixel_values), prompt_pixel_values: tensor(inputs.prompt_pixel_values), prompt_masks: tensor(inputs.prompt_masks) },
        kwargs: { embedding_type: kwargs.embedding_type ?? null, feature_ensemble: kwargs.feature_ensemble ?? null },
      });
      if (!answer.ok) throw new Error(answer.error);
      const file = join(work, 'trace.json');
      writeFileSync(file, answer.trace);
      const summary = summariseTrace(file);
      expect(summary.total_kernel_ms).toBeGreaterThan(0);
      expect(summary.by_op.map((o) => o.key)).toContain('DynamicQuantizeMatMul');
    } finally {
      await page.close();
    }
  });
});

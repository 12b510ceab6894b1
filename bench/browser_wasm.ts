/**
 * Browser WASM, full-size q8: `npm run build && node dist/bench/browser_wasm.js [--threads N] [--keep]`.
 *
 * Converts the synthetic ViT-L checkpoint (bench/synthetic_cache.ts) to q8, serves it with the browser demo from
 * 127.0.0.1, and in headless Chromium loads it with device 'wasm' and runs one 448×448 single-prompt inference through
 * `window.seggptDemo.runModel`. Measures ONNX Runtime Web's WebAssembly heap against wasm32's 4 GiB, the renderer's peak
 * RSS, load and run times, and compares pred_masks with Node's CPU q8 result on the same files. Writes
 * BENCHMARKS-browser.md and the same section into BENCHMARKS.md. Numbers are reported, never asserted.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Tensor } from '@huggingface/transformers';
import type { Page } from 'playwright-core';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { SegGPTForImageSegmentation, type SegGPTForwardOptions } from '../src/index.node.js';
import { launchChromium } from '../dev/chromium.js';
import { readNpy } from '../dev/npy.js';
import { startStaticServer } from '../dev/static_server.js';
import { browserProcesses, startMemorySampler } from './browser/process_memory.js';
import { consoleTable, markdownSection, SECTION_TITLE, writeSection, type BrowserWasmResult } from './browser/report.js';
import { addWasmProbe, heapBytes, readWasmProbe } from './browser/wasm_probe.js';
import { vitLargeFixture } from '../dev/fixtures.js';
import { load1 } from './machine.js';
import { compareMasks } from './masks.js';
import { ensureSyntheticCheckpoint } from '../dev/synthetic_cache.js';

const CASE = '01_single_binary_semantic';
/** The folder name under the page's dist/models/ (what the demo's Model field takes). */
const MODEL_NAME = 'seggpt-vit-large-synthetic';
const WASM_PAGE = 65536;

/** The repository root, from bench/ (source) or dist/bench/ (compiled). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'examples', 'browser', 'build.mjs'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench:browser: examples/browser/build.mjs not found above this script');
    dir = parent;
  }
  return dir;
}

function log(message: string): void {
  process.stderr.write(`[bench:browser] ${message}\n`);
}

function options() {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: String(Math.min(4, availableParallelism())) },
      out: { type: 'string', default: 'BENCHMARKS-browser.md' },
      benchmarks: { type: 'string', default: 'BENCHMARKS.md' },
      keep: { type: 'boolean', default: false },
    },
  });
  // 'default' leaves the thread count to ONNX Runtime Web (one thread on a 2-core machine).
  const threads = values.threads === 'default' ? null : Number(values.threads);
  if (threads !== null && !(Number.isInteger(threads) && threads >= 1 && threads <= 4)) {
    throw new Error(`--threads: use 1–4 or 'default' (got ${values.threads})`);
  }
  return { threads, out: resolve(values.out), benchmarks: resolve(values.benchmarks), keep: values.keep };
}

interface EncodedTensor {
  dims: number[];
  data: string;
}
type RunModelResult = { ok: true; pred_masks: EncodedTensor; run_seconds: number } | { ok: false; error: { name: string; message: string } };

function encode(dims: readonly number[], data: Float32Array): EncodedTensor {
  return { dims: [...dims], data: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64') };
}

function decode(tensor: EncodedTensor): Float32Array {
  const bytes = Buffer.from(tensor.data, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

interface CaseData {
  arrays: Record<'pixel_values' | 'prompt_pixel_values' | 'prompt_masks', { dims: number[]; data: Float32Array }>;
  kwargs: SegGPTForwardOptions;
  reference: Float32Array;
}

function readCase(dir: string): CaseData {
  const array = (name: string) => {
    const a = readNpy(join(dir, `${name}.npy`));
    return { dims: a.shape, data: a.data as Float32Array };
  };
  const json = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8'));
  const kwargs = json.model_call.kwargs as { embedding_type?: 'semantic' | 'instance'; feature_ensemble?: boolean };
  return {
    arrays: { pixel_values: array('pixel_values'), prompt_pixel_values: array('prompt_pixel_values'), prompt_masks: array('prompt_masks') },
    kwargs: { embedding_type: kwargs.embedding_type ?? null, feature_ensemble: kwargs.feature_ensemble ?? null },
    reference: array('pred_masks').data,
  };
}

async function runModel(page: Page, request: object): Promise<{ result: RunModelResult; wall_seconds: number }> {
  const started = performance.now();
  const result: RunModelResult = await page.evaluate((r) => (window as any).seggptDemo.runModel(r), request);
  return { result, wall_seconds: (performance.now() - started) / 1000 };
}

function standardDeviation(values: Float32Array): number {
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / values.length;
  let squares = 0;
  for (const v of values) squares += (v - mean) ** 2;
  return Math.sqrt(squares / values.length);
}

const rendererCpuSeconds = () => browserProcesses().filter((p) => p.type === 'renderer').reduce((sum, p) => sum + p.cpu_seconds, 0);

/**
 * A nudge far below one 8-bit pixel step (≈ 0.017 after normalisation) added to pixel_values for the noise-floor run:
 * how far q8's output moves when nothing but float rounding changes.
 */
const NUDGE = 2e-6;

interface NodeReference {
  pred: Float32Array;
  /** The same model on pixel_values + NUDGE. */
  nudged: Float32Array;
  dims: number[];
  run_seconds: number;
}

/** Node's onnxruntime CPU q8 on the same converted folder: the browser's expected answer, and its noise floor. */
async function nodeReference(modelDir: string, data: CaseData): Promise<NodeReference> {
  const model = await SegGPTForImageSegmentation.from_pretrained(modelDir, { device: 'cpu', dtype: 'q8' });
  const tensor = (a: { dims: number[]; data: Float32Array }) => new Tensor('float32', a.data, a.dims);
  const call = async (pixels: Float32Array) => {
    const started = performance.now();
    const { pred_masks } = await model(
      { pixel_values: tensor({ ...data.arrays.pixel_values, data: pixels }), prompt_pixel_values: tensor(data.arrays.prompt_pixel_values), prompt_masks: tensor(data.arrays.prompt_masks) },
      data.kwargs,
    );
    return { pred: (pred_masks.data as Float32Array).slice(), dims: [...pred_masks.dims], seconds: (performance.now() - started) / 1000 };
  };
  try {
    const first = await call(data.arrays.pixel_values.data);
    const nudged = await call(data.arrays.pixel_values.data.map((v) => v + NUDGE));
    return { pred: first.pred, nudged: nudged.pred, dims: first.dims, run_seconds: first.seconds };
  } finally {
    await model.dispose();
  }
}

type BrowserMeasurement = Omit<
  BrowserWasmResult,
  'model_bytes' | 'node' | 'vs_node_q8' | 'node_noise_floor' | 'browser_vs_reference' | 'reference_std' | 'node_vs_reference' | 'total_seconds' | 'load_average'
>;

/**
 * Serves the page (index.html from examples/browser, the built bundle at /dist/, the model at /dist/models/), then in
 * Chromium: loads the model (timed, heap read), runs the case once (timed, heap read), with the browser's processes
 * sampled throughout.
 */
async function measureInBrowser(setup: { repo: string; dist: string; models: string; threads: number | null; data: CaseData }): Promise<{ measured: BrowserMeasurement; pred: Float32Array }> {
  const { repo, data } = setup;
  const server = await startStaticServer({ '/': join(repo, 'examples', 'browser'), '/dist/': setup.dist, '/dist/models/': setup.models });
  const browser = await launchChromium();
  const sampler = startMemorySampler();
  const consoleLines: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => consoleLines.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'warning' || message.type() === 'error') consoleLines.push(`${message.type()}: ${message.text()} (${message.location().url})`);
    });
    await addWasmProbe(page, setup.threads);
    await page.goto(`${server.url}index.html`);
    await page.evaluate(() => (window as any).seggptDemo.ready);

    // Load: a first call whose 1×1 input the model rejects (InputError) once from_pretrained has finished.
    log('loading the q8 model in the page (wasm) …');
    const tiny = encode([1, 3, 1, 1], new Float32Array(3));
    const choice = { model: MODEL_NAME, device: 'wasm', dtype: 'q8' };
    const load = await runModel(page, { ...choice, inputs: { pixel_values: tiny, prompt_pixel_values: tiny, prompt_masks: tiny } });
    if (load.result.ok || load.result.error.name !== 'InputError') {
      throw new Error(`loading failed: ${load.result.ok ? 'the 1×1 input was accepted' : `${load.result.error.name}: ${load.result.error.message}`}`);
    }
    const afterLoad = await readWasmProbe(page);
    log(`loaded in ${load.wall_seconds.toFixed(1)} s, wasm heap ${(heapBytes(afterLoad) / 2 ** 30).toFixed(2)} GiB; running one 448×448 inference …`);

    const cpuBefore = rendererCpuSeconds();
    const a = data.arrays;
    const run = await runModel(page, {
      ...choice,
      inputs: {
        pixel_values: encode(a.pixel_values.dims, a.pixel_values.data),
        prompt_pixel_values: encode(a.prompt_pixel_values.dims, a.prompt_pixel_values.data),
        prompt_masks: encode(a.prompt_masks.dims, a.prompt_masks.data),
      },
      ...data.kwargs,
    });
    const cpuRun = rendererCpuSeconds() - cpuBefore;
    if (!run.result.ok) throw new Error(`the run failed: ${run.result.error.name}: ${run.result.error.message}`);
    const afterRun = await readWasmProbe(page);
    sampler.stop();
    if (afterRun.workers.length) log(`workers started by the page: ${afterRun.workers.join(', ')}`);
    if (consoleLines.length) log(`page console:\n  ${consoleLines.join('\n  ')}`);
    const heap = afterRun.memories.find((m) => m.bytes === heapBytes(afterRun));
    const measured: BrowserMeasurement = {
      date: new Date().toISOString(),
      chromium: `Chromium ${browser.version()}`,
      onnxruntime_web: JSON.parse(readFileSync(join(repo, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8')).version,
      cores: availableParallelism(),
      case_name: CASE,
      threads: {
        requested: setup.threads,
        cross_origin_isolated: afterRun.cross_origin_isolated,
        pthread_workers: afterRun.workers.filter((name) => name === 'em-pthread').length,
        run_parallelism: cpuRun / run.wall_seconds,
      },
      load_seconds: load.wall_seconds,
      run_seconds: run.result.run_seconds,
      run_wall_seconds: run.wall_seconds,
      heap: { after_load: heapBytes(afterLoad), after_run: heapBytes(afterRun), maximum: (heap?.maximum_pages ?? WASM_PAGE) * WASM_PAGE },
      renderer_peak_rss: Math.max(0, ...sampler.rendererPeaks().values()),
      browser_peak_total_rss: sampler.peakTotalRss(),
      // Transformers.js keeps fetched model files in the Cache API; a failed put is only a warning there.
      cache_put_failed: consoleLines.some((line) => line.includes('Unable to add response to browser cache')),
      not_found: [...server.misses],
    };
    return { measured, pred: decode(run.result.pred_masks) };
  } finally {
    sampler.stop();
    await browser.close();
    await server.close();
  }
}

async function main(): Promise<void> {
  const opts = options();
  const started = performance.now();
  const loadStart = load1();
  const repo = repoRoot();
  const fixture = vitLargeFixture();
  const preprocessor = JSON.parse(readFileSync(join(fixture, 'preprocessor_config.json'), 'utf8')) as { image_mean: number[]; image_std: number[] };
  const data = readCase(join(fixture, 'cases', CASE));

  log('synthetic ViT-L checkpoint …');
  const checkpoint = await ensureSyntheticCheckpoint(fixture);
  log(checkpoint.built ? `built in ${checkpoint.seconds.toFixed(0)} s` : `reused ${checkpoint.folder}`);

  const work = await mkdtemp(join(tmpdir(), 'seggpt-bench-browser-'));
  const models = join(work, 'models');
  const dist = join(work, 'dist');
  const modelDir = join(models, MODEL_NAME);
  try {
    log('converting to q8 and building the demo page …');
    // The page exactly as `npm run build:example` builds it, without its demo model, into the temporary folder.
    const build = promisify(execFile)(process.execPath, [join(repo, 'examples', 'browser', 'build.mjs'), '--outdir', dist, '--no-model'], { cwd: repo });
    const converted = await convertCheckpoint({ checkpoint: checkpoint.folder, output: modelDir, dtypes: 'q8' });
    await build;
    const variant = converted.variants.find((v) => v.dtype === 'q8');
    if (!variant) throw new Error('the converter wrote no q8 variant');

    const browser = await measureInBrowser({ repo, dist, models, threads: opts.threads, data });

    log('Node CPU q8 on the same files …');
    const node = await nodeReference(modelDir, data);
    const compare = (a: Float32Array, b: Float32Array) => compareMasks(a, b, node.dims, preprocessor.image_mean, preprocessor.image_std);
    const result: BrowserWasmResult = {
      ...browser.measured,
      model_bytes: variant.bytes,
      load_average: { start: loadStart, end: load1() },
      node: { run_seconds: node.run_seconds },
      vs_node_q8: compare(browser.pred, node.pred),
      node_noise_floor: { nudge: NUDGE, ...compare(node.nudged, node.pred) },
      browser_vs_reference: compare(browser.pred, data.reference),
      reference_std: standardDeviation(data.reference),
      node_vs_reference: compare(node.pred, data.reference),
      total_seconds: (performance.now() - started) / 1000,
    };
    console.log(consoleTable(result));
    writeSection(markdownSection(result), opts.benchmarks, 'browser', opts.out);
    log(`wrote ${opts.out} and the "${SECTION_TITLE}" section of ${opts.benchmarks}`);
  } finally {
    if (opts.keep) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

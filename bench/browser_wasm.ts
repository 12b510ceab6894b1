/**
 * Browser WASM, full size: `npm run build && node dist/bench/browser_wasm.js [--dtypes q8|all|fp32,q8,…] [--profile]
 * [--runs N] [--threads N] [--attention fused|decomposed] [--run-timeout S] [--keep]`.
 *
 * Converts the synthetic ViT-L checkpoint (bench/synthetic_cache.ts) to each dtype asked for (default q8, the browser's
 * default), serves it with the browser demo from 127.0.0.1, and in headless Chromium loads it with device 'wasm' and
 * runs a 448×448 single-prompt inference (--runs times, median; default once) through `window.seggptDemo.runModel` (the demo's module worker runs the
 * model). Measures ONNX Runtime Web's WebAssembly heap in that worker against wasm32's 4 GiB, the renderer's peak RSS,
 * load and run times, and compares pred_masks with Node's onnxruntime CPU result of the same variant on the same files.
 * With several dtypes, also a table of every variant (browser s, Node s, ratio, accuracy vs the PyTorch reference);
 * with --profile, one profiled run per variant in each runtime and the kernel time by op type. Writes
 * BENCHMARKS-browser.md and the same sections into BENCHMARKS.md. Numbers are reported, never asserted.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Tensor } from '@huggingface/transformers';
import * as ortNode from 'onnxruntime-node';
import type { Browser, Page } from 'playwright-core';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { resolveVariants } from '../src/conversion/variants.js';
import { SEGGPT_DEFAULT_DTYPES } from '../src/loading/load_sessions.js';
import { SegGPTForImageSegmentation, type SegGPTForwardOptions } from '../src/index.node.js';
import { launchChromium } from '../dev/chromium.js';
import { readNpy } from '../dev/npy.js';
import { readOnnxNodes } from '../dev/onnx_nodes.js';
import { startStaticServer } from '../dev/static_server.js';
import { browserProcesses, startMemorySampler } from './browser/process_memory.js';
import { buildProfileWorker, runProfileWorker } from './browser/profile.js';
import {
  consoleTable,
  joinByOp,
  markdownSection,
  profileConsoleTable,
  profileSection,
  sectionTitle,
  variantsConsoleTable,
  variantsSection,
  writeSection,
  type AttentionInfo,
  type BrowserWasmResult,
  type ProfileResult,
  type VariantRow,
  type VariantsResult,
} from './browser/report.js';
import { addWasmProbe, heapBytes, injectWorkerProbe, readWasmProbe } from './browser/wasm_probe.js';
import { vitLargeFixture } from '../dev/fixtures.js';
import { load1 } from './machine.js';
import { compareMasks, type MaskComparison } from './masks.js';
import { summariseTrace } from './profile_trace.js';
import { ensureSyntheticCheckpoint } from '../dev/synthetic_cache.js';

const CASE = '01_single_binary_semantic';
/** The folder name under the page's dist/models/ (what the demo's Model field takes). */
const MODEL_NAME = 'seggpt-vit-large-synthetic';
const WASM_PAGE = 65536;
/** The target of issue 11: the browser default variant within this factor of Node CPU on the same variant. */
const TARGET_RATIO = 3;

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

/** `npm run build && npm run bench:browser -- <the options that shape the numbers>` (not where the report goes). */
function commandLine(): string {
  const args = process.argv.slice(2);
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out' || args[i] === '--benchmarks') i++;
    else if (!/^--(out|benchmarks)=/.test(args[i]) && args[i] !== '--keep') kept.push(args[i]);
  }
  return `npm run build && npm run bench:browser${kept.length ? ` -- ${kept.join(' ')}` : ''}`;
}

function options() {
  const { values } = parseArgs({
    options: {
      threads: { type: 'string', default: 'default' },
      dtypes: { type: 'string', default: 'q8' },
      profile: { type: 'boolean', default: false },
      attention: { type: 'string' },
      'run-timeout': { type: 'string', default: '1200' },
      runs: { type: 'string', default: '1' },
      out: { type: 'string', default: 'BENCHMARKS-browser.md' },
      benchmarks: { type: 'string', default: 'BENCHMARKS.md' },
      keep: { type: 'boolean', default: false },
    },
  });
  // 'default': the demo's own choice (min(4, cores) in its worker); N: `?threads=N` in the page URL.
  const threads = values.threads === 'default' ? null : Number(values.threads);
  if (threads !== null && !(Number.isInteger(threads) && threads >= 1 && threads <= 16)) {
    throw new Error(`--threads: use 1–16 or 'default' (got ${values.threads})`);
  }
  const attention = values.attention ?? null;
  if (attention !== null && attention !== 'fused' && attention !== 'decomposed') throw new Error(`--attention: fused or decomposed (got ${attention})`);
  const dtypes = resolveVariants(values.dtypes).map((v) => v.dtype);
  // The browser's default first: its detailed section (and the noise floor) are about it.
  const primary = dtypes.includes(SEGGPT_DEFAULT_DTYPES.wasm) ? SEGGPT_DEFAULT_DTYPES.wasm : dtypes[0];
  const runTimeout = Number(values['run-timeout']);
  if (!(runTimeout > 0)) throw new Error(`--run-timeout: seconds > 0 (got ${values['run-timeout']})`);
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`--runs: an integer ≥ 1 (got ${values.runs})`);
  return {
    threads,
    dtypes: [primary, ...dtypes.filter((d) => d !== primary)],
    profile: values.profile,
    attention: attention as 'fused' | 'decomposed' | null,
    runTimeoutMs: runTimeout * 1000,
    runs,
    command: commandLine(),
    out: resolve(values.out),
    benchmarks: resolve(values.benchmarks),
    keep: values.keep,
  };
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

function encodedInputs(data: CaseData) {
  const a = data.arrays;
  return {
    pixel_values: encode(a.pixel_values.dims, a.pixel_values.data),
    prompt_pixel_values: encode(a.prompt_pixel_values.dims, a.prompt_pixel_values.data),
    prompt_masks: encode(a.prompt_masks.dims, a.prompt_masks.data),
  };
}

/** Rejects after `ms` (the caller then closes the browser, which ends the evaluate). */
function deadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer after ${(ms / 1000).toFixed(0)} s`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runModel(page: Page, request: object, timeoutMs: number): Promise<{ result: RunModelResult; wall_seconds: number }> {
  const started = performance.now();
  const result: RunModelResult = await deadline(
    page.evaluate((r) => (window as any).seggptDemo.runModel(r), request),
    timeoutMs,
    'runModel',
  );
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

/** The index of the median run (the lower middle one for an even count: always a real run). */
function medianIndex(values: readonly number[]): number {
  const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b]);
  return order[(order.length - 1) >> 1];
}

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

/**
 * A nudge far below one 8-bit pixel step (≈ 0.017 after normalisation) added to pixel_values for the noise-floor run:
 * how far a variant's output moves when nothing but float rounding changes.
 */
const NUDGE = 2e-6;

interface NodeReference {
  pred: Float32Array;
  /** The same model on pixel_values + NUDGE (only with `nudge`). */
  nudged: Float32Array | null;
  dims: number[];
  run_seconds: number;
  /** Every timed run (run_seconds is their median). */
  runs: number[];
  /** This process's CPU seconds ÷ wall seconds in the run (onnxruntime's threads; below their count when cores were taken). */
  run_parallelism: number;
}

/** Node's onnxruntime CPU on the same converted folder and dtype: the browser's expected answer, and its noise floor. */
async function nodeReference(modelDir: string, dtype: string, data: CaseData, nudge: boolean, runs: number): Promise<NodeReference> {
  const model = await SegGPTForImageSegmentation.from_pretrained(modelDir, { device: 'cpu', dtype: dtype as never });
  const tensor = (a: { dims: number[]; data: Float32Array }) => new Tensor('float32', a.data, a.dims);
  const call = async (pixels: Float32Array) => {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const { pred_masks } = await model(
      { pixel_values: tensor({ ...data.arrays.pixel_values, data: pixels }), prompt_pixel_values: tensor(data.arrays.prompt_pixel_values), prompt_masks: tensor(data.arrays.prompt_masks) },
      data.kwargs,
    );
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return { pred: (pred_masks.data as Float32Array).slice(), dims: [...pred_masks.dims], seconds, parallelism: (used.user + used.system) / 1e6 / seconds };
  };
  try {
    const timed = [await call(data.arrays.pixel_values.data)];
    while (timed.length < runs) timed.push(await call(data.arrays.pixel_values.data));
    const nudged = nudge ? await call(data.arrays.pixel_values.data.map((v) => v + NUDGE)) : null;
    const mid = medianIndex(timed.map((t) => t.seconds));
    return {
      pred: timed[0].pred,
      nudged: nudged?.pred ?? null,
      dims: timed[0].dims,
      run_seconds: timed[mid].seconds,
      runs: timed.map((t) => t.seconds),
      run_parallelism: timed[mid].parallelism,
    };
  } finally {
    await model.dispose();
  }
}

type BrowserMeasurement = Omit<
  BrowserWasmResult,
  'command' | 'model_bytes' | 'node' | 'vs_node' | 'node_noise_floor' | 'browser_vs_reference' | 'reference_std' | 'node_vs_reference' | 'total_seconds' | 'load_average' | 'attention'
>;

interface PageSetup {
  repo: string;
  dist: string;
  models: string;
  threads: number | null;
  data: CaseData;
  runTimeoutMs: number;
  runs: number;
}

/** The page (index.html from examples/browser, the built bundle at /dist/, the models at /dist/models/) in a fresh Chromium. */
async function openDemo<T>(setup: PageSetup, use: (page: Page, browser: Browser, url: string, consoleLines: string[]) => Promise<T>): Promise<{ value: T; misses: string[] }> {
  const server = await startStaticServer({ '/': join(setup.repo, 'examples', 'browser'), '/dist/': setup.dist, '/dist/models/': setup.models });
  const browser = await launchChromium();
  const consoleLines: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => consoleLines.push(`pageerror: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'warning' || message.type() === 'error') consoleLines.push(`${message.type()}: ${message.text()} (${message.location().url})`);
    });
    await addWasmProbe(page, null);
    await page.goto(`${server.url}index.html${setup.threads === null ? '' : `?threads=${setup.threads}`}`);
    await page.evaluate(() => (window as any).seggptDemo.ready);
    const value = await use(page, browser, server.url, consoleLines);
    return { value, misses: [...server.misses] };
  } finally {
    await browser.close();
    await server.close();
  }
}

/**
 * In a fresh Chromium: loads the model (timed, heap read), runs the case once (timed, heap read), with the browser's
 * processes sampled throughout.
 */
async function measureInBrowser(setup: PageSetup, dtype: string): Promise<{ measured: BrowserMeasurement; pred: Float32Array }> {
  const { repo, data } = setup;
  const sampler = startMemorySampler();
  try {
    const { value, misses } = await openDemo(setup, async (page, browser, _url, consoleLines) => {
      const worker = (await page.evaluate(() => (window as any).seggptDemo.workerSetup())) as { numThreads: number; crossOriginIsolated: boolean };
      // Load: a first call whose 1×1 input the model rejects (InputError) once from_pretrained has finished.
      log(`${dtype}: loading in the demo's worker (wasm, numThreads ${worker.numThreads}) …`);
      const tiny = encode([1, 3, 1, 1], new Float32Array(3));
      const choice = { model: MODEL_NAME, device: 'wasm', dtype };
      const load = await runModel(page, { ...choice, inputs: { pixel_values: tiny, prompt_pixel_values: tiny, prompt_masks: tiny } }, setup.runTimeoutMs);
      if (load.result.ok || load.result.error.name !== 'InputError') {
        throw new Error(`loading failed: ${load.result.ok ? 'the 1×1 input was accepted' : `${load.result.error.name}: ${load.result.error.message}`}`);
      }
      const afterLoad = await readWasmProbe(page);
      log(`${dtype}: loaded in ${load.wall_seconds.toFixed(1)} s, wasm heap ${(heapBytes(afterLoad) / 2 ** 30).toFixed(2)} GiB; running one 448×448 inference …`);

      const timed: { seconds: number; wall: number; cpu: number; pred: EncodedTensor }[] = [];
      while (timed.length < setup.runs) {
        const cpuBefore = rendererCpuSeconds();
        const run = await runModel(page, { ...choice, inputs: encodedInputs(data), ...data.kwargs }, setup.runTimeoutMs);
        const cpu = rendererCpuSeconds() - cpuBefore;
        if (!run.result.ok) throw new Error(`the run failed: ${run.result.error.name}: ${run.result.error.message}`);
        timed.push({ seconds: run.result.run_seconds, wall: run.wall_seconds, cpu, pred: run.result.pred_masks });
      }
      const run = timed[medianIndex(timed.map((t) => t.seconds))];
      const afterRun = await readWasmProbe(page);
      sampler.stop();
      log(`${dtype}: ran in ${timed.map((t) => t.seconds.toFixed(1)).join(', ')} s; workers: ${afterRun.contexts.map((c) => `${c.url} started [${c.workers.join(', ')}]`).join('; ')}`);
      if (consoleLines.length) log(`page console:\n  ${consoleLines.join('\n  ')}`);
      const heap = afterRun.memories.find((m) => m.bytes === heapBytes(afterRun));
      return {
        measured: {
          date: new Date().toISOString(),
          chromium: `Chromium ${browser.version()}`,
          onnxruntime_web: JSON.parse(readFileSync(join(repo, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8')).version,
          cores: availableParallelism(),
          case_name: CASE,
          dtype,
          threads: {
            requested: setup.threads,
            worker_num_threads: worker.numThreads,
            cross_origin_isolated: worker.crossOriginIsolated,
            pthread_workers: afterRun.workers.filter((name) => name === 'em-pthread').length,
            run_parallelism: run.cpu / run.wall,
          },
          load_seconds: load.wall_seconds,
          run_seconds: run.seconds,
          runs: timed.map((t) => t.seconds),
          run_wall_seconds: run.wall,
          heap: { after_load: heapBytes(afterLoad), after_run: heapBytes(afterRun), maximum: (heap?.maximum_pages ?? WASM_PAGE) * WASM_PAGE },
          renderer_peak_rss: Math.max(0, ...sampler.rendererPeaks().values()),
          browser_peak_total_rss: sampler.peakTotalRss(),
          // Transformers.js keeps fetched model files in the Cache API; a failed put is only a warning there.
          cache_put_failed: consoleLines.some((line) => line.includes('Unable to add response to browser cache')),
          not_found: [] as string[],
        } satisfies BrowserMeasurement,
        pred: decode(timed[0].pred),
      };
    });
    value.measured.not_found = misses;
    return value;
  } finally {
    sampler.stop();
  }
}

/** One profiled inference in a module worker of the demo's page (same files, threads and library code). */
async function profileInBrowser(setup: PageSetup, dtype: string, threads: number, traceFile: string): Promise<number> {
  const { value } = await openDemo(setup, async (page) => {
    const request = {
      localModelPath: '/dist/models/',
      numThreads: threads,
      model: MODEL_NAME,
      dtype,
      inputs: encodedInputs(setup.data),
      kwargs: { embedding_type: setup.data.kwargs.embedding_type ?? null, feature_ensemble: setup.data.kwargs.feature_ensemble ?? null },
    };
    return deadline(runProfileWorker(page, request), setup.runTimeoutMs, 'profiled run');
  });
  if (!value.ok) throw new Error(value.error);
  writeFileSync(traceFile, value.trace);
  return value.run_seconds;
}

/** One profiled inference in Node (onnxruntime-node through the library, as nodeReference loads it). */
async function profileInNode(modelDir: string, dtype: string, data: CaseData, work: string): Promise<{ run_seconds: number; file: string }> {
  const prefix = join(work, `node_profile_${dtype}`);
  const model = await SegGPTForImageSegmentation.from_pretrained(modelDir, {
    device: 'cpu',
    dtype: dtype as never,
    session_options: { enableProfiling: true, profileFilePrefix: prefix },
  });
  try {
    const tensor = (a: { dims: number[]; data: Float32Array }) => new Tensor('float32', a.data, a.dims);
    const started = performance.now();
    await model({ pixel_values: tensor(data.arrays.pixel_values), prompt_pixel_values: tensor(data.arrays.prompt_pixel_values), prompt_masks: tensor(data.arrays.prompt_masks) }, data.kwargs);
    const run_seconds = (performance.now() - started) / 1000;
    await (model as unknown as { sessions: Record<string, { endProfiling(): unknown }> }).sessions.model.endProfiling();
    const file = readdirSync(work).find((f) => f.startsWith(`node_profile_${dtype}`) && f.endsWith('.json'));
    if (!file) throw new Error(`no Node profile for ${dtype} in ${work}`);
    return { run_seconds, file: join(work, file) };
  } finally {
    await model.dispose();
  }
}

/** The encoder attention form of a converted file: com.microsoft MultiHeadAttention nodes, or none. */
function attentionOf(file: string, requested: string | null): AttentionInfo {
  const mha = readOnnxNodes(file).filter((n) => n.op_type === 'MultiHeadAttention').length;
  return { form: mha > 0 ? 'fused' : 'decomposed', multi_head_attention_nodes: mha, requested };
}

/** Writes `section` between its markers in BENCHMARKS.md and in the bench's own file (started afresh when it has none). */
function publish(section: string, name: string, benchmarks: string, own: string): void {
  writeSection(section, benchmarks, name);
  if (!existsSync(own) || !readFileSync(own, 'utf8').includes('<!-- bench:')) writeFileSync(own, '# Benchmarks: browser\n');
  writeSection(section, own, name);
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
    log(`converting to ${opts.dtypes.join(', ')} and building the demo page …`);
    // The page exactly as `npm run build:example` builds it, without its demo model, into the temporary folder; the
    // worker gets the probe that reads its wasm heap and pthreads.
    const build = promisify(execFile)(process.execPath, [join(repo, 'examples', 'browser', 'build.mjs'), '--outdir', dist, '--no-model'], { cwd: repo });
    const converted = await convertCheckpoint({ checkpoint: checkpoint.folder, output: modelDir, dtypes: opts.dtypes, ...(opts.attention ? { attention: opts.attention } : {}) });
    await build;
    injectWorkerProbe(join(dist, 'worker.js'));
    if (opts.profile) await buildProfileWorker(repo, dist);
    const variantOf = (dtype: string) => {
      const v = converted.variants.find((x) => x.dtype === dtype);
      if (!v) throw new Error(`the converter wrote no ${dtype} variant`);
      return v;
    };
    const attention = attentionOf(join(modelDir, 'onnx', variantOf(opts.dtypes[0]).file), opts.attention);
    log(`encoder attention: ${attention.form} (${attention.multi_head_attention_nodes} MultiHeadAttention nodes)`);
    const setup: PageSetup = { repo, dist, models, threads: opts.threads, data, runTimeoutMs: opts.runTimeoutMs, runs: opts.runs };
    const compare = (a: Float32Array, b: Float32Array, dims: number[]) => compareMasks(a, b, dims, preprocessor.image_mean, preprocessor.image_std);

    const rows: VariantRow[] = [];
    const browserRuns = new Map<string, BrowserMeasurement>();
    let primary: BrowserWasmResult | null = null;
    for (const [index, dtype] of opts.dtypes.entries()) {
      const variant = variantOf(dtype);
      let browser: { measured: BrowserMeasurement; pred: Float32Array } | { error: string };
      try {
        browser = await measureInBrowser(setup, dtype);
        browserRuns.set(dtype, browser.measured);
      } catch (error) {
        if (index === 0) throw error;
        log(`${dtype}: the browser failed: ${errorText(error)}`);
        browser = { error: errorText(error) };
      }
      log(`${dtype}: Node CPU on the same files …`);
      let node: NodeReference | { error: string };
      try {
        node = await nodeReference(modelDir, dtype, data, index === 0, opts.runs);
        log(`${dtype}: Node ran in ${node.runs.map((x) => x.toFixed(1)).join(', ')} s`);
      } catch (error) {
        if (index === 0) throw error;
        log(`${dtype}: Node failed: ${errorText(error)}`);
        node = { error: errorText(error) };
      }
      const dims = 'pred' in node ? node.dims : [1, 3, 896, 448];
      const vsNode: MaskComparison | null = 'pred' in browser && 'pred' in node ? compare(browser.pred, node.pred, dims) : null;
      rows.push({
        dtype,
        file: variant.file,
        bytes: variant.bytes,
        browser:
          'pred' in browser
            ? {
                ok: true,
                load_seconds: browser.measured.load_seconds,
                run_seconds: browser.measured.run_seconds,
                heap_peak: browser.measured.heap.after_run,
                threads: browser.measured.threads.pthread_workers + 1,
                run_parallelism: browser.measured.threads.run_parallelism,
                vs_reference: compare(browser.pred, data.reference, dims),
                vs_node: vsNode,
              }
            : { ok: false, error: browser.error },
        node:
          'pred' in node
            ? { ok: true, run_seconds: node.run_seconds, run_parallelism: node.run_parallelism, vs_reference: compare(node.pred, data.reference, dims) }
            : { ok: false, error: node.error },
      });
      if (index === 0 && 'pred' in browser && 'pred' in node) {
        primary = {
          ...browser.measured,
          command: opts.command,
          attention,
          model_bytes: variant.bytes,
          load_average: { start: loadStart, end: load1() },
          node: { run_seconds: node.run_seconds, runs: node.runs, run_parallelism: node.run_parallelism },
          vs_node: vsNode!,
          node_noise_floor: { nudge: NUDGE, ...compare(node.nudged!, node.pred, dims) },
          browser_vs_reference: compare(browser.pred, data.reference, dims),
          reference_std: standardDeviation(data.reference),
          node_vs_reference: compare(node.pred, data.reference, dims),
          total_seconds: (performance.now() - started) / 1000,
        };
        console.log(consoleTable(primary));
        publish(markdownSection(primary), 'browser', opts.benchmarks, opts.out);
        log(`wrote the "${sectionTitle(dtype)}" section of ${opts.out} and ${opts.benchmarks}`);
      }
    }

    if (opts.dtypes.length > 1) {
      const variants: VariantsResult = {
        command: opts.command,
        date: new Date().toISOString(),
        chromium: primary?.chromium ?? 'Chromium',
        onnxruntime_web: primary?.onnxruntime_web ?? '?',
        onnxruntime_node: ortNode.env.versions.node ?? '?',
        cores: availableParallelism(),
        load_average: { start: loadStart, end: load1() },
        attention,
        browser_default: SEGGPT_DEFAULT_DTYPES.wasm,
        target_ratio: TARGET_RATIO,
        runs: opts.runs,
        rows,
        total_seconds: (performance.now() - started) / 1000,
      };
      console.log(`\n${variantsConsoleTable(variants)}`);
      publish(variantsSection(variants), 'browser-variants', opts.benchmarks, opts.out);
    }

    if (opts.profile) {
      const profiles: ProfileResult[] = [];
      for (const dtype of opts.dtypes) {
        const measured = browserRuns.get(dtype);
        if (!measured) continue;
        const threads = measured.threads.worker_num_threads;
        const nodeRun = rows.find((r) => r.dtype === dtype)!;
        try {
          log(`${dtype}: profiled run in the browser (${threads} threads) …`);
          const browserTrace = join(work, `browser_profile_${dtype}.json`);
          const browserSeconds = await profileInBrowser(setup, dtype, threads, browserTrace);
          log(`${dtype}: profiled run in Node …`);
          const node = await profileInNode(modelDir, dtype, data, work);
          const b = summariseTrace(browserTrace);
          const n = summariseTrace(node.file);
          // Node's NCHWc layout pass renames Conv nodes (`<name>_nchwc`, with Reorder nodes around them); WebAssembly has none.
          const fold = (key: string) => key.replace(/_nchwc$/, '');
          const nodePatterns = new Map<string, number>();
          for (const x of n.by_node_pattern) nodePatterns.set(fold(x.key), (nodePatterns.get(fold(x.key)) ?? 0) + x.ms);
          const profile: ProfileResult = {
            dtype,
            date: new Date().toISOString(),
            threads,
            attention,
            browser: { run_seconds: browserSeconds, kernel_ms: b.total_kernel_ms },
            node: { run_seconds: node.run_seconds, kernel_ms: n.total_kernel_ms },
            unprofiled: { browser_seconds: measured.run_seconds, node_seconds: nodeRun.node.ok ? nodeRun.node.run_seconds : null },
            rows: joinByOp(b.by_op, n.by_op),
            patterns: b.by_node_pattern
              .map((x) => ({ key: x.key, browser_ms: x.ms, node_ms: nodePatterns.get(fold(x.key)) ?? 0 }))
              .sort((x, y) => y.browser_ms - y.node_ms - (x.browser_ms - x.node_ms))
              .slice(0, 12),
          };
          console.log(`\n${profileConsoleTable(profile)}`);
          profiles.push(profile);
        } catch (error) {
          log(`${dtype}: profiling failed: ${errorText(error)}`);
        }
      }
      if (profiles.length) publish(profileSection(profiles, opts.command), 'browser-profile', opts.benchmarks, opts.out);
    }
    log(`wrote ${opts.out} and ${opts.benchmarks}; whole run ${((performance.now() - started) / 60000).toFixed(1)} min`);
  } finally {
    if (opts.keep) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

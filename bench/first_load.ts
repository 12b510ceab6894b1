/**
 * First load by hub id: `npm run build && npm run bench:first-load [-- --dtypes fp32,q8 --rate 100 --no-browser]`.
 *
 * The full-size synthetic ViT-L checkpoint (safetensors only, as BAAI/seggpt-vit-large) is served under
 * `BAAI/seggpt-vit-large` by a loopback hub limited to `--rate` MB/s (default 100, a fast home or office link). For
 * each dtype, in fresh Node processes: the plain download of the checkpoint, a first load by id (download +
 * conversion + session), a second load (the converted model from the cache), and the conversion alone from a local
 * file (what `seggpt convert` costs). In Chromium (q8): a first visit that converts in the page, then a new browser on
 * the same profile loading the conversion from Cache Storage. Writes its section into BENCHMARKS.md.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildBrowserApp, repositoryRoot } from '../dev/browser_app.js';
import { chromiumPath } from '../dev/chromium.js';
import { vitLargeFixture } from '../dev/fixtures.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';
import { startStaticServer } from '../dev/static_server.js';
import { ensureSyntheticCheckpoint } from '../dev/synthetic_cache.js';
import { startMemorySampler } from './browser/process_memory.js';
import { writeSection } from './browser/report.js';
import { addWasmProbe, heapBytes, readWasmProbe } from './browser/wasm_probe.js';
import { load1, machineFacts } from './machine.js';
import { formatMarkdown, formatText } from './report.js';
import { runWorker } from './worker_io.js';
import type { ConvertMeasurement } from './workers/convert.js';
import type { DownloadMeasurement } from './workers/download.js';
import type { FirstLoadMeasurement } from './workers/first_load.js';

const REPO = 'BAAI/seggpt-vit-large';
/** Targets (issue: first loads by hub id). */
const NODE_MEMORY_RATIO = 1.2;
const CONVERSION_TO_DOWNLOAD = 0.5;
const BROWSER_EXTRA_BYTES = 0.6e9;
const GB = 1e9;

function log(message: string): void {
  process.stderr.write(`[bench:first-load] ${message}\n`);
}

function options() {
  const { values } = parseArgs({
    options: {
      dtypes: { type: 'string', default: 'fp32,q8' },
      rate: { type: 'string', default: '100' },
      browser: { type: 'boolean', default: true },
      'no-browser': { type: 'boolean', default: false },
      out: { type: 'string', default: 'BENCHMARKS.md' },
    },
  });
  return { dtypes: values.dtypes.split(',').map((d) => d.trim()), rate: Number(values.rate), browser: values.browser && !values['no-browser'], out: resolve(values.out) };
}

interface NodeRow {
  dtype: string;
  download: DownloadMeasurement & { peak_rss_bytes: number };
  first: FirstLoadMeasurement & { peak_rss_bytes: number };
  cached: FirstLoadMeasurement & { peak_rss_bytes: number };
  convert: ConvertMeasurement & { peak_rss_bytes: number };
}

interface BrowserRow {
  dtype: string;
  first_seconds: number;
  cached_seconds: number;
  first_renderer_peak: number;
  cached_renderer_peak: number;
  first_heap: number;
  cached_heap: number;
  first_hub_bytes: number;
  cached_hub_requests: number;
}

async function measureNode(hub: HubServer, checkpoint: string, dtype: string, work: string): Promise<NodeRow> {
  const remoteHost = `${hub.url}/`;
  const cacheDir = join(work, `node-cache-${dtype}`);
  log(`${dtype}: download alone …`);
  const download = await runWorker<DownloadMeasurement>('download', { url: `${hub.url}/${REPO}/resolve/main/model.safetensors` });
  log(`${dtype}: first load by id …`);
  const first = await runWorker<FirstLoadMeasurement>('first_load', { remoteHost, cacheDir, id: REPO, dtype });
  log(`${dtype}: second load (cached) …`);
  const cached = await runWorker<FirstLoadMeasurement>('first_load', { remoteHost, cacheDir, id: REPO, dtype });
  log(`${dtype}: conversion alone (local file) …`);
  const convert = await runWorker<ConvertMeasurement>('convert', { checkpoint, output: join(work, `converted-${dtype}`), dtypes: dtype });
  await rm(join(work, `converted-${dtype}`), { recursive: true, force: true });
  await rm(cacheDir, { recursive: true, force: true });
  return { dtype, download, first, cached, convert };
}

async function measureBrowser(hub: HubServer, dtype: string, work: string): Promise<BrowserRow> {
  const { chromium } = await import('playwright-core');
  const root = repositoryRoot();
  const www = join(work, 'www');
  await buildBrowserApp(www, work);
  const server = await startStaticServer({ '/': www, '/ort/': join(root, 'node_modules', 'onnxruntime-web', 'dist') });
  const profile = join(work, 'chromium-profile');
  const visit = async () => {
    const sampler = startMemorySampler(200);
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath(),
      args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await context.newPage();
      await addWasmProbe(page, null);
      await page.goto(`${server.url}index.html`);
      await page.waitForFunction(() => (window as any).seggptApp?.ready);
      await page.evaluate((host) => (window as any).seggptApp.configure({ remoteHost: host, wasmPaths: new URL('/ort/', location.href).href }), `${hub.url}/`);
      const before = hub.received.requests.length;
      const result = await page.evaluate((d) => (window as any).seggptApp.runCases({ id: 'BAAI/seggpt-vit-large', options: { device: 'wasm', dtype: d }, cases: [] }), dtype);
      if (!result.ok) throw new Error(`the page failed: ${result.error.name}: ${result.error.message}`);
      const heap = heapBytes(await readWasmProbe(page));
      sampler.stop();
      const requests = hub.received.requests.slice(before);
      const peaks = [...sampler.rendererPeaks().values()];
      return { seconds: result.load_seconds as number, heap, renderer: Math.max(0, ...peaks), requests };
    } finally {
      await context.close();
      sampler.stop();
    }
  };
  try {
    log(`chromium ${dtype}: first visit (converts in the page) …`);
    const first = await visit();
    log(`chromium ${dtype}: next visit (a new browser on the same profile) …`);
    const cached = await visit();
    return {
      dtype,
      first_seconds: first.seconds,
      cached_seconds: cached.seconds,
      first_renderer_peak: first.renderer,
      cached_renderer_peak: cached.renderer,
      first_heap: first.heap,
      cached_heap: cached.heap,
      first_hub_bytes: first.requests.filter((r) => r.origin === 'cdn' && r.range).reduce((sum, r) => sum + rangeLength(r.range!), 0),
      cached_hub_requests: cached.requests.length,
    };
  } finally {
    await server.close();
  }
}

function rangeLength(range: string): number {
  const [start, end] = range.slice('bytes='.length).split('-').map(Number);
  return end - start + 1;
}

const s = (x: number) => `${x.toFixed(1)} s`;
const gb = (x: number) => `${(x / GB).toFixed(2)} GB`;
const pass = (ok: boolean) => (ok ? 'pass' : 'FAIL');

function report(rate: number, checkpointBytes: number, nodeRows: NodeRow[], browserRows: BrowserRow[], machine: ReturnType<typeof machineFacts>, loads: [number, number]): { text: string; markdown: string } {
  const atRate = checkpointBytes / (100 * 1e6);
  const nodeTable = [
    ['dtype', 'download alone', 'first load by id', 'then from the cache', 'added by conversion', 'conversion alone', 'peak RSS first / cached', 'weights read'],
    ...nodeRows.map((r) => [
      r.dtype,
      s(r.download.seconds),
      s(r.first.seconds),
      s(r.cached.seconds),
      s(Math.max(0, r.first.seconds - r.download.seconds - r.cached.seconds)),
      s(r.convert.seconds),
      `${gb(r.first.peak_rss_bytes)} / ${gb(r.cached.peak_rss_bytes)}`,
      gb(r.first.weights_bytes),
    ]),
  ];
  const targets = [
    ['metric', 'measured', 'target', 'result'],
    ...nodeRows.flatMap((r) => [
      [`Node ${r.dtype}: first-load peak RSS / converted-model load`, `${(r.first.peak_rss_bytes / r.cached.peak_rss_bytes).toFixed(2)}×`, `≤ ${NODE_MEMORY_RATIO}×`, pass(r.first.peak_rss_bytes <= NODE_MEMORY_RATIO * r.cached.peak_rss_bytes)],
      [`Node ${r.dtype}: conversion time / download at 100 MB/s (${s(atRate)})`, `${(r.convert.seconds / atRate).toFixed(2)}×`, `≤ ${CONVERSION_TO_DOWNLOAD}×`, pass(r.convert.seconds <= CONVERSION_TO_DOWNLOAD * atRate)],
    ]),
    ...browserRows.map((r) => [
      `Chromium ${r.dtype}: first-visit renderer peak − next visit's`,
      gb(r.first_renderer_peak - r.cached_renderer_peak),
      `≤ ${gb(BROWSER_EXTRA_BYTES)}`,
      pass(r.first_renderer_peak - r.cached_renderer_peak <= BROWSER_EXTRA_BYTES),
    ]),
  ];
  const browserTable = [
    ['dtype', 'first visit (by id)', 'next visit', 'renderer peak first / next', 'wasm heap first / next', 'weights read (first)', 'hub requests (next)'],
    ...browserRows.map((r) => [
      r.dtype,
      s(r.first_seconds),
      s(r.cached_seconds),
      `${gb(r.first_renderer_peak)} / ${gb(r.cached_renderer_peak)}`,
      `${gb(r.first_heap)} / ${gb(r.cached_heap)}`,
      gb(r.first_hub_bytes),
      String(r.cached_hub_requests),
    ]),
  ];
  const date = new Date().toISOString().slice(0, 10);
  const markdown = `## First load by hub id (safetensors → ONNX on first use)

Generated by \`npm run build && npm run bench:first-load\` (bench/first_load.ts) on ${date}; ${machine.cpu_model}, ${machine.cores} cores,
load ${loads[0].toFixed(2)} → ${loads[1].toFixed(2)}. The full-size synthetic ViT-L checkpoint (${gb(checkpointBytes)}, safetensors only) is served as
\`${REPO}\` by a loopback hub (resolve URLs, 302 to a second origin, Range) limited to ${rate} MB/s. Every Node measurement
is a fresh process; *first load* = \`SegGPTForImageSegmentation.from_pretrained(id, { dtype })\` with an empty cache
(download, conversion and session), *then from the cache* = the same call again (the converted model, no weight
request), *conversion alone* = \`seggpt convert\` of the local file to that dtype, *added by conversion* = first load −
download alone − cached load.

${formatMarkdown(targets)}

Node (onnxruntime-node CPU):

${formatMarkdown(nodeTable)}
${browserRows.length ? `
Chromium (headless, WASM): the first visit converts in the page and stores the result in Cache Storage; the next visit is a new browser on
the same profile. Renderer peak = VmHWM of the page's renderer process.

${formatMarkdown(browserTable)}
` : ''}`;
  const text = [formatText(targets), '', formatText(nodeTable), ...(browserRows.length ? ['', formatText(browserTable)] : [])].join('\n');
  return { text, markdown };
}

async function main(): Promise<void> {
  const opts = options();
  const machine = machineFacts();
  const loadStart = load1();
  const fixture = vitLargeFixture();
  log('synthetic checkpoint …');
  const checkpoint = await ensureSyntheticCheckpoint(fixture);
  const files = Object.fromEntries(['config.json', 'preprocessor_config.json', 'model.safetensors'].map((f) => [f, join(checkpoint.folder, f)]));
  const checkpointBytes = (await stat(join(checkpoint.folder, 'model.safetensors'))).size;
  const hub = await startHubServer({ resolveOnly: true, separateCdn: true, repos: { [REPO]: { files } }, throttle: { bytesPerSecond: opts.rate * 1e6, chunkBytes: 256 * 1024 } });
  const work = await mkdtemp(join(tmpdir(), 'seggpt-bench-first-load-'));
  try {
    const nodeRows: NodeRow[] = [];
    for (const dtype of opts.dtypes) nodeRows.push(await measureNode(hub, checkpoint.folder, dtype, work));
    const browserRows: BrowserRow[] = [];
    if (opts.browser) browserRows.push(await measureBrowser(hub, 'q8', work));
    const { text, markdown } = report(opts.rate, checkpointBytes, nodeRows, browserRows, machine, [loadStart, load1()]);
    console.log(text);
    writeSection(markdown, opts.out, 'first-load');
    log(`wrote ${opts.out}`);
  } finally {
    await hub.close();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

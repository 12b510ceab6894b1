/**
 * Pre- and post-processing at photo sizes: `npm run build && npm run bench:preprocess [-- --runs 7
 * --sizes 4000x3000,1155x866 --q8-json results.json | --q8-seconds 2.3 | --no-q8 --no-browser --no-pillow
 * --json out.json]`.
 *
 * Times SegGPTImageProcessor preprocessing (query + prompt image + 1-channel prompt mask → three 448×448 tensors)
 * and post_process_semantic_segmentation (back to the query's size) in Node and in headless Chromium (the
 * library's browser entry bundled by esbuild, served from 127.0.0.1), on the same in-memory bytes
 * (bench/preprocess_measure.ts); Pillow's figure for the same resizes comes from bench/pillow_resize.py under
 * Debian's /usr/bin/python3 (python3-pil, python3-numpy). The q8 session time is measured in the same run (the
 * synthetic ViT-L checkpoint converted to q8, one 448×448 single-prompt call, as `npm run bench` does) unless
 * --q8-json (a `npm run bench -- --json` result) or --q8-seconds gives it. Prints a table with the targets;
 * numbers are reported, never asserted.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as esbuild from 'esbuild';
import { SegGPTImageProcessor } from '../src/index.node.js';
import { resampleKernel } from '../src/utils/pillow_resample.js';
import { launchChromium } from '../dev/chromium.js';
import { vitLargeFixture } from '../dev/fixtures.js';
import { startStaticServer } from '../dev/static_server.js';
import { ensureSyntheticCheckpoint } from '../dev/synthetic_cache.js';
import { load1, machineFacts } from './machine.js';
import { measurePrePost, type PrePostTiming } from './preprocess_measure.js';
import { runWorker } from './worker_io.js';
import { writeSection } from './browser/report.js';
import type { ConvertMeasurement } from './workers/convert.js';
import type { InferMeasurement } from './workers/infer.js';

const CASE = '01_single_binary_semantic';
/** pre + post at the largest size may take at most this share of one q8 session call. */
const SESSION_SHARE = 0.05;
/** Below this CPU time / wall time, other processes took the cores during the Node measurement. */
const QUIET_SHARE = 0.8;

function log(message: string): void {
  process.stderr.write(`[bench:preprocess] ${message}\n`);
}

/** The repository root, from bench/ (source) or dist/bench/ (compiled). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'bench', 'pillow_resize.py'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('bench:preprocess: bench/pillow_resize.py not found above this script');
    dir = parent;
  }
  return dir;
}

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '7' },
      sizes: { type: 'string', default: '4000x3000,1155x866' },
      'q8-json': { type: 'string' },
      'q8-seconds': { type: 'string' },
      'no-q8': { type: 'boolean', default: false },
      'no-browser': { type: 'boolean', default: false },
      'no-pillow': { type: 'boolean', default: false },
      python: { type: 'string', default: '/usr/bin/python3' },
      json: { type: 'string' },
      /** Write the table into this file's `preprocess` section ('none': do not). */
      benchmarks: { type: 'string', default: 'BENCHMARKS.md' },
    },
  });
  const sizes = values.sizes.split(',').map((s) => {
    const m = /^(\d+)x(\d+)$/i.exec(s.trim());
    if (!m) throw new Error(`--sizes: use WIDTHxHEIGHT[,…] (got ${s})`);
    return { width: Number(m[1]), height: Number(m[2]) };
  });
  const runs = Number(values.runs);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`--runs: a positive integer (got ${values.runs})`);
  return {
    runs,
    sizes,
    q8Json: values['q8-json'] ? resolve(values['q8-json']) : undefined,
    q8Seconds: values['q8-seconds'] !== undefined ? Number(values['q8-seconds']) : undefined,
    noQ8: values['no-q8'],
    browser: !values['no-browser'],
    pillow: !values['no-pillow'],
    python: values.python,
    json: values.json ? resolve(values.json) : undefined,
    benchmarks: values.benchmarks === 'none' ? undefined : resolve(values.benchmarks),
  };
}

export interface Q8Time {
  seconds: number;
  source: string;
}

/** q8 session time from a saved `npm run bench -- --json` result. */
function q8FromJson(file: string): Q8Time {
  const results = JSON.parse(readFileSync(file, 'utf8')) as { variants?: { dtype: string; infer?: { median_seconds: number } }[]; machine?: { date?: string } };
  const seconds = results.variants?.find((v) => v.dtype === 'q8')?.infer?.median_seconds;
  if (typeof seconds !== 'number') throw new Error(`--q8-json: ${file} has no q8 infer median (run npm run bench -- --dtypes q8 --json ${file})`);
  return { seconds, source: `npm run bench result ${file}${results.machine?.date ? ` of ${results.machine.date}` : ''}` };
}

/** Converts the synthetic ViT-L checkpoint to q8 and times one 448×448 single-prompt session call (median of 3). */
async function measureQ8(): Promise<Q8Time> {
  const fixture = vitLargeFixture();
  log('synthetic ViT-L checkpoint …');
  const checkpoint = await ensureSyntheticCheckpoint(fixture);
  const preprocessor = JSON.parse(readFileSync(join(fixture, 'preprocessor_config.json'), 'utf8'));
  const caseDir = join(fixture, 'cases', CASE);
  const caseJson = JSON.parse(readFileSync(join(caseDir, 'case.json'), 'utf8'));
  const work = await mkdtemp(join(tmpdir(), 'seggpt-bench-preprocess-'));
  try {
    log('convert q8 …');
    const output = join(work, 'q8');
    const convert = await runWorker<ConvertMeasurement>('convert', { checkpoint: checkpoint.folder, output, dtypes: 'q8' });
    log('q8 session: 1 warm-up + 3 runs …');
    const infer = await runWorker<InferMeasurement>('infer', {
      model: join(output, 'onnx', convert.files[0].file),
      case_dir: caseDir,
      kwargs: caseJson.model_call.kwargs,
      warmups: 1,
      runs: 3,
      image_mean: preprocessor.image_mean,
      image_std: preprocessor.image_std,
    });
    log(`  median ${infer.median_seconds.toFixed(2)} s, CPU share ${(infer.cpu_share * 100).toFixed(0)} %`);
    return { seconds: infer.median_seconds, source: `measured in this run (median of 3, CPU share ${(infer.cpu_share * 100).toFixed(0)} %)` };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface PillowSize {
  width: number;
  height: number;
  resize_seconds: number;
  resize_min_seconds: number;
  preprocess_seconds?: number;
}
export type PillowResult = { pillow: string; numpy: string | null; python: string; sizes: PillowSize[] } | { error: string };

async function measurePillow(python: string, script: string, sizes: { width: number; height: number }[], runs: number): Promise<PillowResult> {
  if (!existsSync(python)) return { error: `${python} not found (apt-get install -y python3-pil python3-numpy)` };
  const args = [script, '--runs', String(runs), ...sizes.flatMap((s) => ['--size', `${s.width}x${s.height}`])];
  try {
    const { stdout } = await promisify(execFile)(python, args, { maxBuffer: 1 << 20 });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as PillowResult;
  } catch (error) {
    return { error: `${python} ${script} failed: ${String((error as Error).message).split('\n')[0]}` };
  }
}

/** Bundles the page (src/index.ts, the browser entry) and runs the measurement in headless Chromium. */
async function measureChromium(repo: string, config: object, sizes: { width: number; height: number }[], runs: number): Promise<{ chromium: string; timings: PrePostTiming[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'seggpt-bench-preprocess-page-'));
  try {
    await esbuild.build({
      entryPoints: [join(repo, 'bench', 'browser', 'preprocess_page.ts')],
      outfile: join(dir, 'page.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      keepNames: true,
      logLevel: 'error',
    });
    await writeFile(join(dir, 'index.html'), '<!doctype html><meta charset="utf-8"><title>bench:preprocess</title><script type="module" src="page.js"></script>\n');
    const server = await startStaticServer({ '/': dir });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${server.url}index.html`);
      await page.waitForFunction(() => typeof (window as any).benchPrePost === 'function', undefined, { timeout: 60_000 }).catch(() => {
        throw new Error(`the page did not start${errors.length ? `: ${errors.join('; ')}` : ''}`);
      });
      const timings: PrePostTiming[] = [];
      for (const { width, height } of sizes) {
        log(`Chromium ${width}×${height} …`);
        timings.push(await page.evaluate(([c, w, h, n]) => (window as any).benchPrePost(c, w, h, n), [config, width, height, runs] as const));
      }
      return { chromium: `Chromium ${browser.version()}`, timings };
    } finally {
      await browser.close();
      await server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const ms = (seconds: number | undefined) => (seconds === undefined ? '—' : `${(seconds * 1000).toFixed(1)} ms`);
const mp = (s: { width: number; height: number }) => `${((s.width * s.height) / 1e6).toFixed(1)} MP (${s.width}×${s.height})`;

export interface PreprocessResults {
  machine: ReturnType<typeof machineFacts>;
  load: { start: number; end: number };
  runs: number;
  sizes: { width: number; height: number }[];
  q8?: Q8Time | { error: string };
  node: PrePostTiming[];
  chromium?: { chromium: string; timings: PrePostTiming[] } | { error: string };
  pillow?: PillowResult;
}

function table(r: PreprocessResults): string {
  const lines: string[] = [];
  const big = r.sizes.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
  const at = <T extends { width: number; height: number }>(list: T[] | undefined, s: { width: number; height: number }) =>
    list?.find((t) => t.width === s.width && t.height === s.height);
  const node = at(r.node, big)!;
  const pillow = r.pillow && 'sizes' in r.pillow ? r.pillow : undefined;
  const pillowBig = at(pillow?.sizes, big);
  const chromium = r.chromium && 'timings' in r.chromium ? r.chromium : undefined;
  const q8 = r.q8 && 'seconds' in r.q8 ? r.q8 : undefined;
  const bigName = mp(big);

  lines.push(`| target | measured | target | pass |`, `| --- | --- | --- | --- |`);
  lines.push(
    `| Node preprocess ${bigName} vs Pillow's resizes | ${ms(node.preprocess_seconds)} | ` +
      (pillowBig ? `≤ ${ms(pillowBig.resize_seconds)} (Pillow ${pillow!.pillow}) | ${node.preprocess_seconds <= pillowBig.resize_seconds ? 'pass' : 'FAIL'} |` : `≤ Pillow: ${r.pillow && 'error' in r.pillow ? r.pillow.error : 'not measured'} | — |`),
  );
  const both = node.preprocess_seconds + node.postprocess_seconds;
  lines.push(
    `| Node pre + post ${bigName} / q8 session | ` +
      (q8 ? `${ms(both)} / ${q8.seconds.toFixed(2)} s = ${((both / q8.seconds) * 100).toFixed(1)} % | ≤ ${SESSION_SHARE * 100} % | ${both <= SESSION_SHARE * q8.seconds ? 'pass' : 'FAIL'} |` : `${ms(both)} / q8 not measured${r.q8 && 'error' in r.q8 ? ` (${r.q8.error})` : ''} | ≤ ${SESSION_SHARE * 100} % | — |`),
  );
  lines.push('');
  lines.push(`| median (min) per call | ${r.sizes.map(mp).join(' | ')} |`, `| --- | ${r.sizes.map(() => '---').join(' | ')} |`);
  const cell = (t: PrePostTiming | undefined, which: 'pre' | 'post') => {
    if (!t) return '—';
    const [median, min, cpu] = which === 'pre' ? [t.preprocess_seconds, t.preprocess_min_seconds, t.preprocess_cpu_seconds] : [t.postprocess_seconds, t.postprocess_min_seconds, t.postprocess_cpu_seconds];
    return `${ms(median)} (${ms(min)})${cpu !== undefined ? `, CPU ${ms(cpu)}` : ''}`;
  };
  const row = (name: string, cells: string[]) => lines.push(`| ${name} | ${cells.join(' | ')} |`);
  row(`Node ${r.machine.node} preprocess`, r.sizes.map((s) => cell(at(r.node, s), 'pre')));
  row('Node postprocess', r.sizes.map((s) => cell(at(r.node, s), 'post')));
  row('Node pre + post', r.sizes.map((s) => { const t = at(r.node, s)!; return ms(t.preprocess_seconds + t.postprocess_seconds); }));
  if (chromium) {
    row(`${chromium.chromium} preprocess`, r.sizes.map((s) => cell(at(chromium.timings, s), 'pre')));
    row('Chromium postprocess', r.sizes.map((s) => cell(at(chromium.timings, s), 'post')));
    row('Chromium pre + post', r.sizes.map((s) => { const t = at(chromium.timings, s); return t ? ms(t.preprocess_seconds + t.postprocess_seconds) : '—'; }));
  } else {
    row('Chromium', r.sizes.map(() => (r.chromium && 'error' in r.chromium ? r.chromium.error : 'not measured')));
  }
  if (pillow) {
    row(`Pillow ${pillow.pillow} resizes (2 BICUBIC + 1 NEAREST)`, r.sizes.map((s) => { const p = at(pillow.sizes, s); return p ? `${ms(p.resize_seconds)} (${ms(p.resize_min_seconds)})` : '—'; }));
    row(`Pillow resizes + numpy ${pillow.numpy ?? 'missing'} rescale/normalize`, r.sizes.map((s) => ms(at(pillow.sizes, s)?.preprocess_seconds)));
  } else {
    row('Pillow', r.sizes.map(() => (r.pillow && 'error' in r.pillow ? r.pillow.error : 'not measured')));
  }
  lines.push('');
  const checks = r.sizes.map((s) => {
    const n = at(r.node, s)!;
    const c = at(chromium?.timings, s);
    return `${s.width}×${s.height} ${n.checksum}${c ? (c.checksum === n.checksum ? ' (Chromium identical)' : ` (Chromium ${c.checksum}: DIFFERENT)`) : ''}`;
  });
  lines.push(`Resampling: Node ${node.kernel}${chromium ? `, Chromium ${chromium.timings[0]?.kernel}` : ''}; output checksums ${checks.join(', ')}.`);
  lines.push(`q8 session: ${q8 ? `${q8.seconds.toFixed(2)} s, ${q8.source}` : 'not measured'}.`);
  if (node.preprocess_cpu_seconds !== undefined && node.postprocess_cpu_seconds !== undefined) {
    // Single-threaded work (plus V8's GC helpers) gets about 1 CPU-second per second on an idle machine.
    const share = (node.preprocess_cpu_seconds + node.postprocess_cpu_seconds) / both;
    lines.push(
      `Node CPU time / wall time of pre + post at ${bigName}: ${share.toFixed(2)}` +
        (share < QUIET_SHARE ? ` — below ${QUIET_SHARE}: other processes took the cores, the wall times above are inflated (the CPU times are the better guide)` : '') + '.',
    );
  }
  lines.push(`${r.machine.cpu_model}, ${r.machine.cores} cores; load ${r.load.start.toFixed(2)} → ${r.load.end.toFixed(2)}; medians of ${r.runs} calls after 3 untimed ones per figure (Pillow: after 1).`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const opts = options();
  const repo = repoRoot();
  const machine = machineFacts();
  const loadStart = load1();
  const config = JSON.parse(readFileSync(join(vitLargeFixture(), 'preprocessor_config.json'), 'utf8')) as object;
  const results: PreprocessResults = { machine, load: { start: loadStart, end: loadStart }, runs: opts.runs, sizes: opts.sizes, node: [] };

  // The q8 session first: it takes every core, the timings below one.
  if (opts.q8Seconds !== undefined) results.q8 = { seconds: opts.q8Seconds, source: '--q8-seconds' };
  else if (opts.q8Json) results.q8 = q8FromJson(opts.q8Json);
  else if (!opts.noQ8) {
    try {
      results.q8 = await measureQ8();
    } catch (error) {
      results.q8 = { error: (error as Error).message };
      log(`q8 failed: ${results.q8.error}`);
    }
  }

  const processor = new SegGPTImageProcessor(config);
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  for (const { width, height } of opts.sizes) {
    log(`Node ${width}×${height} …`);
    results.node.push(await measurePrePost(processor, width, height, opts.runs, resampleKernel(), cpu));
  }
  if (opts.pillow) {
    log('Pillow …');
    results.pillow = await measurePillow(opts.python, join(repo, 'bench', 'pillow_resize.py'), opts.sizes, opts.runs);
    if ('error' in results.pillow) log(`  ${results.pillow.error}`);
  }
  if (opts.browser) {
    try {
      results.chromium = await measureChromium(repo, config, opts.sizes, opts.runs);
    } catch (error) {
      results.chromium = { error: (error as Error).message.split('\n')[0] };
      log(`Chromium failed: ${results.chromium.error}`);
    }
  }
  results.load.end = load1();
  const text = table(results);
  console.log(text);
  if (opts.json) writeFileSync(opts.json, `${JSON.stringify(results, null, 2)}\n`);
  if (opts.benchmarks) {
    const section = `## Pre- and post-processing at photo sizes

Generated by \`npm run build && npm run bench:preprocess\` (bench/preprocess.ts; \`npm run bench\` runs it with its own q8 time) on
${machine.date.slice(0, 10)}. SegGPTImageProcessor on a query, a prompt image and a 1-channel prompt mask of each size (random
bytes decoded beforehand) → three 448×448 tensors, and post_process_semantic_segmentation back to the query's size, in
Node and in headless Chromium; Pillow's figure: the same resizes under Debian's python3-pil on the same machine.

${text}
`;
    writeSection(section, opts.benchmarks, 'preprocess');
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});

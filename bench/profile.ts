/**
 * Graph and kernel profile of the converted ViT-L model: `npm run build && node dist/bench/profile.js
 * [--dtypes fp32,q8,q4] [--out profile.md]`.
 *
 * For each dtype: converts the synthetic checkpoint, dumps onnxruntime's optimised graph
 * (`optimizedModelFilePath`) and counts op types before and after optimisation (which fusions fired), then
 * profiles one single-prompt 448×448 run (`enableProfiling`) and lists the ops and node patterns that cost most.
 */
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { vitLargeFixture } from '../dev/fixtures.js';
import { machineFacts } from './machine.js';
import { countOpTypes, readOnnxNodes } from '../dev/onnx_nodes.js';
import { summariseTrace, type TimeShare } from './profile_trace.js';
import { formatMarkdown } from './report.js';
import { ensureSyntheticCheckpoint } from '../dev/synthetic_cache.js';
import { runWorker } from './worker_io.js';
import { writeSection } from './browser/report.js';
import { ATTENTION_FORMS, DEFAULT_ATTENTION, type AttentionForm } from '../src/conversion/seggpt_graph.js';
import type { ConvertArgs, ConvertMeasurement } from './workers/convert.js';
import type { InferArgs, InferMeasurement } from './workers/infer.js';

const CASE = '01_single_binary_semantic';
const TOP_OPS = 15;
const TOP_PATTERNS = 30;

function log(message: string): void {
  process.stderr.write(`[profile] ${message}\n`);
}

function shareRows(rows: TimeShare[], limit: number): string[][] {
  return [
    ['', 'ms', 'calls', 'share'],
    ...rows.slice(0, limit).map((r) => [r.key, r.ms.toFixed(0), String(r.calls), `${(r.share * 100).toFixed(1)} %`]),
  ];
}

function opCountRows(before: [string, number][], after: [string, number][]): string[][] {
  const keys = [...new Set([...after.map(([k]) => k), ...before.map(([k]) => k)])];
  const b = new Map(before);
  const a = new Map(after);
  return [['op type', 'converted graph', 'optimised graph'], ...keys.map((k) => [k, String(b.get(k) ?? 0), String(a.get(k) ?? 0)])];
}

interface Profiled {
  label: string;
  text: string;
  unprofiled_seconds: number;
  peak_rss_bytes: number;
  kernel_ms: number;
  by_op: TimeShare[];
}

/** One column per profiled run, one row per op type: milliseconds of kernel time. */
function comparisonRows(runs: readonly Profiled[]): string[][] {
  const ops = [...new Set(runs.flatMap((r) => r.by_op.slice(0, TOP_OPS).map((o) => o.key)))];
  const ms = (r: Profiled, op: string) => r.by_op.find((o) => o.key === op)?.ms;
  return [
    ['op type (kernel ms)', ...runs.map((r) => r.label)],
    ...ops.map((op) => [op, ...runs.map((r) => ms(r, op)?.toFixed(0) ?? '—')]),
    ['all kernels', ...runs.map((r) => r.kernel_ms.toFixed(0))],
    ['unprofiled run, s', ...runs.map((r) => r.unprofiled_seconds.toFixed(2))],
    ['peak RSS, GB', ...runs.map((r) => (r.peak_rss_bytes / 1e9).toFixed(2))],
  ];
}

async function profileDtype(dtype: string, attention: AttentionForm, checkpoint: string, work: string): Promise<Profiled> {
  const fixture = vitLargeFixture();
  const caseDir = join(fixture, 'cases', CASE);
  const caseJson = JSON.parse(await readFile(join(caseDir, 'case.json'), 'utf8'));
  const preprocessor = JSON.parse(await readFile(join(fixture, 'preprocessor_config.json'), 'utf8'));
  const label = `${dtype}-${attention}`;
  const output = join(work, label);
  log(`convert ${dtype} (attention ${attention}) …`);
  const convert = await runWorker<ConvertMeasurement>('convert', { checkpoint, output, dtypes: dtype, attention } satisfies ConvertArgs);
  const model = join(output, 'onnx', convert.files[0].file);
  const optimized = join(work, `${label}.optimized.onnx`);
  const prefix = join(work, `${label}_profile`);
  log(`run ${label} with the optimised-graph dump, then a profiled run …`);
  const infer = await runWorker<InferMeasurement>('infer', {
    model,
    case_dir: caseDir,
    kwargs: caseJson.model_call.kwargs,
    warmups: 0,
    runs: 1,
    image_mean: preprocessor.image_mean,
    image_std: preprocessor.image_std,
    optimized_model_path: optimized,
    profile_prefix: prefix,
  } satisfies InferArgs);
  const before = countOpTypes(readOnnxNodes(model));
  const after = countOpTypes(readOnnxNodes(optimized));
  const traceFile = readdirSync(work).find((f) => f.startsWith(`${label}_profile`) && f.endsWith('.json'));
  if (!traceFile) throw new Error(`no profile trace for ${label} in ${work}`);
  const trace = summariseTrace(join(work, traceFile));
  await rm(output, { recursive: true, force: true });

  const text = `## ${dtype}, attention ${attention}

Unprofiled run ${infer.median_seconds.toFixed(2)} s (session create ${infer.create_seconds.toFixed(1)} s, peak RSS ${(infer.peak_rss_bytes / 1e9).toFixed(2)} GB);
profiled run: ${(trace.total_kernel_ms / 1000).toFixed(2)} s of kernel time.

### Node types

${formatMarkdown(opCountRows(before, after))}

### Kernel time by op type

${formatMarkdown(shareRows(trace.by_op, TOP_OPS))}

### Kernel time by node (layer numbers folded)

${formatMarkdown(shareRows(trace.by_node_pattern, TOP_PATTERNS))}
`;
  return { label, text, unprofiled_seconds: infer.median_seconds, peak_rss_bytes: infer.peak_rss_bytes, kernel_ms: trace.total_kernel_ms, by_op: trace.by_op };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dtypes: { type: 'string', default: 'fp32' },
      attention: { type: 'string', default: DEFAULT_ATTENTION },
      out: { type: 'string' },
      /** Also write the per-op comparison into this file's `profile` section. */
      benchmarks: { type: 'string' },
    },
  });
  const forms = values.attention.split(',').map((a) => a.trim()) as AttentionForm[];
  for (const form of forms) if (!ATTENTION_FORMS.includes(form)) throw new Error(`--attention: ${form} is not one of ${ATTENTION_FORMS.join(', ')}`);
  const machine = machineFacts();
  const checkpoint = await ensureSyntheticCheckpoint(vitLargeFixture());
  const work = await mkdtemp(join(tmpdir(), 'seggpt-profile-'));
  const sections: Profiled[] = [];
  try {
    for (const dtype of values.dtypes.split(',').map((d) => d.trim())) {
      for (const form of forms) sections.push(await profileDtype(dtype, form, checkpoint.folder, work));
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const text = `# onnxruntime profile of ViT-L SegGPT (${CASE}, one prompt, 448×448)

${machine.cpu_model}, ${machine.cores} cores, onnxruntime-node ${machine.onnxruntime_node}, ${machine.date}.

${sections.map((p) => p.text).join('\n')}`;
  if (values.out) await writeFile(values.out, text);
  console.log(text);
  if (values.benchmarks) {
    const section = `## Profile: kernel time by op type

Generated by \`npm run build && npm run bench:profile -- --dtypes ${values.dtypes} --attention ${values.attention} --benchmarks ${values.benchmarks}\`
(bench/profile.ts) on ${machine.date.slice(0, 10)}; ${machine.cpu_model}, ${machine.cores} cores, onnxruntime-node ${machine.onnxruntime_node}.
Full-size synthetic ViT-L, one profiled run of \`${CASE}\` per column (profiling adds overhead; the unprofiled run is
the same session's run before it). *decomposed* is the graph of standard ops (scores, + rel_h, + rel_w, Softmax, · v),
*fused* one MultiHeadAttention per layer (the default).

${formatMarkdown(comparisonRows(sections))}
`;
    writeSection(section, values.benchmarks, 'profile');
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});

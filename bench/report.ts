/** Turns measured numbers into target rows, a console table and BENCHMARKS.md. */
import type { FlopBreakdown } from './flops.js';
import type { MachineFacts } from './machine.js';
import type { WorkerResult } from './worker_io.js';
import type { ConvertMeasurement } from './workers/convert.js';
import type { InferMeasurement } from './workers/infer.js';
import type { PrePostMeasurement } from './workers/prepost.js';
import type { RooflineMeasurement } from './workers/roofline.js';
import type { PreprocessResults } from './preprocess.js';

/** Decimal units, as the 1.48 GB checkpoint size is quoted. */
const GB = 1e9;
const MB = 1e6;

export interface VariantResult {
  dtype: string;
  file: string;
  convert: ConvertMeasurement & WorkerResult;
  infer?: InferMeasurement & WorkerResult;
  error?: string;
  /** The same runs with onnxruntime's default `enableMemPattern: true`. */
  mem_pattern?: InferMeasurement & WorkerResult;
}

export interface BenchResults {
  machine: MachineFacts;
  load: { start: number; end: number };
  warmups: number;
  runs: number;
  checkpoint: { bytes: number; reused: boolean; build_seconds: number };
  /** fp32 MatMul rate, measured more than once in the run. */
  roofline: (RooflineMeasurement & WorkerResult)[];
  /** int8 MatMul rate (q8's own DynamicQuantizeMatMul pattern), measured around the q8 runs; absent in older results. */
  roofline_int8?: (RooflineMeasurement & WorkerResult)[];
  flops: FlopBreakdown;
  /** bench/preprocess.ts's result (12 MP and 1 MP, Node, Chromium, Pillow), run with this run's q8 time. */
  photo_prepost?: PreprocessResults;
  /** The timed fp32 conversion (its own child process). */
  convert_fp32: ConvertMeasurement & WorkerResult;
  variants: VariantResult[];
  prepost?: PrePostMeasurement & WorkerResult;
  total_seconds: number;
}

export interface TargetRow {
  metric: string;
  measured: string;
  target: string;
  /** undefined: not measured. */
  pass: boolean | undefined;
}

function row(metric: string, value: number | undefined, format: (v: number) => string, target: string, ok: (v: number) => boolean): TargetRow {
  if (value === undefined || !Number.isFinite(value)) return { metric, measured: 'not measured', target, pass: undefined };
  return { metric, measured: format(value), target, pass: ok(value) };
}

const seconds = (v: number) => `${v.toFixed(1)} s`;
const gb = (v: number) => `${(v / GB).toFixed(2)} GB`;
const ratio = (v: number) => `${v.toFixed(2)}×`;

/** The roof: the fastest fp32 MatMul rate seen in this run, GFLOP/s. */
export function roofGflops(r: BenchResults): number {
  return Math.max(...r.roofline.map((m) => m.best_gflops));
}

/** The model's FLOPs at the roof: the time a perfect fp32 implementation would need. */
export function idealSeconds(r: BenchResults): number {
  return r.flops.total / (roofGflops(r) * 1e9);
}

/**
 * q8 at its roofs: the Linear layers' FLOPs (int8 in q8) at the int8 MatMul rate, everything else (attention,
 * patch embedding, decoder convolution: float in q8) at the fp32 rate. undefined without an int8 roof.
 */
export function q8IdealSeconds(r: BenchResults): number | undefined {
  const int8 = r.roofline_int8?.length ? Math.max(...r.roofline_int8.map((m) => m.best_gflops)) : undefined;
  if (!int8) return undefined;
  return r.flops.linear / (int8 * 1e9) + (r.flops.total - r.flops.linear) / (roofGflops(r) * 1e9);
}

function q8Roof(r: BenchResults): string {
  const ideal = q8IdealSeconds(r);
  if (!ideal || !r.roofline_int8) return '- int8 roof: not measured.';
  const int8 = Math.max(...r.roofline_int8.map((m) => m.best_gflops));
  const q8 = variant(r, 'q8')?.infer;
  return [
    `- int8 MatMul ${r.roofline_int8[0].shape.join(' × ')} in q8's own pattern (DynamicQuantizeLinear → MatMulInteger, int8 weights → scale;`,
    `  onnxruntime fuses it into DynamicQuantizeMatMul, U8S8), measured right after the q8 runs: best **${int8.toFixed(1)} GOP/s**`,
    `  (${(int8 / roofGflops(r)).toFixed(2)}× the fp32 roof).`,
    `- Ideal q8 time = ${(r.flops.linear / 1e9).toFixed(0)} GFLOP of encoder Linear layers ÷ the int8 roof + ${((r.flops.total - r.flops.linear) / 1e9).toFixed(0)} GFLOP`,
    `  of the rest (attention, patch embedding, decoder) ÷ the fp32 roof = **${ideal.toFixed(2)} s**; measured`,
    `  ${q8 ? `${q8.median_seconds.toFixed(2)} s = **${(q8.median_seconds / ideal).toFixed(2)}×** that` : 'not measured'}.`,
  ].join('\n');
}

function variant(r: BenchResults, dtype: string): VariantResult | undefined {
  return r.variants.find((v) => v.dtype === dtype);
}

/**
 * SLOT for pre-/post-processing: the SegGPTImageProcessor time of one 448×448 call (preprocess +
 * post_process_semantic_segmentation) as a share of the fp32 session time. Pass undefined when not measured.
 */
export function prePostRow(measured: { preprocess_seconds: number; postprocess_seconds: number } | undefined, fp32SessionSeconds: number | undefined): TargetRow {
  const share = measured && fp32SessionSeconds ? (measured.preprocess_seconds + measured.postprocess_seconds) / fp32SessionSeconds : undefined;
  return row('pre + post-processing / fp32 session time', share, (v) => `${(v * 100).toFixed(2)} %`, '≤ 3 %', (v) => v <= 0.03);
}

/** The photo-size targets: Node preprocessing at the largest size ≤ Pillow's resizes; pre + post ≤ 5 % of q8's session. */
export function photoPrePostRows(p: PreprocessResults | undefined, q8Seconds: number | undefined): TargetRow[] {
  const big = p?.sizes.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
  const at = <T extends { width: number; height: number }>(list: T[] | undefined) => list?.find((t) => big && t.width === big.width && t.height === big.height);
  const node = at(p?.node);
  const pillow = p?.pillow && 'sizes' in p.pillow ? at(p.pillow.sizes) : undefined;
  const mp = big ? `${((big.width * big.height) / 1e6).toFixed(0)} MP` : 'photo size';
  const ms = (v: number) => `${(v * 1000).toFixed(0)} ms`;
  return [
    row(`Node preprocess ${mp} / Pillow's resizes${pillow ? ` (${ms(pillow.resize_seconds)})` : ''}`, node && pillow && node.preprocess_seconds / pillow.resize_seconds, ratio, '≤ 1×', (v) => v <= 1),
    row(`pre + post ${mp} query + prompt/mask / q8 session time`, node && q8Seconds && (node.preprocess_seconds + node.postprocess_seconds) / q8Seconds, (v) => `${(v * 100).toFixed(1)} %`, '≤ 5 %', (v) => v <= 0.05),
  ];
}

export function targetRows(r: BenchResults): TargetRow[] {
  const fp32 = variant(r, 'fp32')?.infer;
  const q8 = variant(r, 'q8')?.infer;
  const q4 = variant(r, 'q4')?.infer;
  return [
    row('convert 1.48 GB checkpoint → fp32: time', r.convert_fp32.seconds, seconds, '< 60 s', (v) => v < 60),
    row('convert → fp32: peak RSS', r.convert_fp32.peak_rss_bytes, gb, '< 1.5 GB', (v) => v < 1.5 * GB),
    row('fp32 time / ideal (FLOPs ÷ MatMul roof)', fp32 && fp32.median_seconds / idealSeconds(r), ratio, '≤ 1.10×', (v) => v <= 1.1),
    row('q8 time / fp32 time', q8 && fp32 && q8.median_seconds / fp32.median_seconds, ratio, '≤ 0.45×', (v) => v <= 0.45),
    { ...row('q8 time / q8 ideal (encoder Linear FLOPs ÷ int8 roof + rest ÷ fp32 roof)', q8 && q8IdealSeconds(r) && q8.median_seconds / q8IdealSeconds(r)!, ratio, 'reported', () => true), pass: undefined },
    row('q8 peak RSS', q8?.peak_rss_bytes, gb, '≤ 1.0 GB', (v) => v <= 1.0 * GB),
    row('fp32 peak RSS', fp32?.peak_rss_bytes, gb, '≤ 2.0 GB', (v) => v <= 2.0 * GB),
    row('q4 file / fp32 file', q4 && fp32 && q4.file_bytes / fp32.file_bytes, ratio, '≤ 0.2×', (v) => v <= 0.2),
    prePostRow(r.prepost, fp32?.median_seconds),
    ...photoPrePostRows(r.photo_prepost, q8?.median_seconds),
  ];
}

/** [height, width] → "W×H" as image sizes are usually quoted. */
function hw([height, width]: [number, number]): string {
  return `${width}×${height}`;
}

/** Below this CPU share a variant's times are called contended (and the bench measures it again). */
export const QUIET_CPU_SHARE = 0.85;

/** Warnings when other processes visibly slowed this run's measurements. */
export function contentionNotes(r: BenchResults): string[] {
  const notes: string[] = [];
  const roofs = r.roofline.map((m) => m.best_gflops);
  if (Math.min(...roofs) < 0.8 * Math.max(...roofs)) {
    notes.push(`the MatMul roof moved between measurements (${roofs.map((g) => g.toFixed(0)).join(' vs ')} GFLOP/s): other processes were using the cores`);
  }
  const contended = r.variants.filter((v) => v.infer && v.infer.cpu_share < QUIET_CPU_SHARE);
  if (contended.length) {
    notes.push(`contended timings (CPU share < ${QUIET_CPU_SHARE * 100} %): ${contended.map((v) => `${v.dtype} ${(v.infer!.cpu_share * 100).toFixed(0)} %`).join(', ')}; their times and the ratios built on them are inflated`);
  }
  return notes;
}

function verdict(pass: boolean | undefined): string {
  return pass === undefined ? '—' : pass ? 'pass' : 'MISS';
}

function sci(v: number | undefined): string {
  return v === undefined ? '—' : v.toExponential(2);
}

function pct(v: number | undefined): string {
  return v === undefined ? '—' : `${(v * 100).toFixed(2)} %`;
}

/** Rows of the per-variant table: header first. */
export function variantTable(r: BenchResults): string[][] {
  const header = [
    'dtype',
    'file',
    'size MB',
    'convert s',
    'session create s',
    'inference s (median)',
    'best s',
    'peak RSS GB',
    'max abs vs fp32',
    'mean abs vs fp32',
    'max abs vs ref',
    'mean abs vs ref',
    'binary agree vs fp32',
    'binary agree vs ref',
    'CPU share',
  ];
  const rows = r.variants.map((v) => {
    const i = v.infer;
    if (!i) return [v.dtype, v.file, '—', v.convert.seconds.toFixed(1), `failed: ${v.error ?? 'unknown'}`, ...Array<string>(10).fill('')];
    return [
      v.dtype,
      v.file,
      (i.file_bytes / MB).toFixed(0),
      v.convert.seconds.toFixed(1),
      i.create_seconds.toFixed(1),
      i.median_seconds.toFixed(2),
      i.best_seconds.toFixed(2),
      (i.peak_rss_bytes / GB).toFixed(2),
      sci(i.vs_fp32?.max_abs),
      sci(i.vs_fp32?.mean_abs),
      sci(i.vs_reference.max_abs),
      sci(i.vs_reference.mean_abs),
      pct(i.vs_fp32?.binary_agreement),
      pct(i.vs_reference.binary_agreement),
      `${(i.cpu_share * 100).toFixed(0)} %`,
    ];
  });
  return [header, ...rows];
}

/** The bench's session options (memory pattern off, the library default) vs onnxruntime's default (on). */
export function memPatternTable(r: BenchResults): string[][] {
  const rows = r.variants
    .filter((v) => v.infer && v.mem_pattern)
    .map((v) => {
      const off = v.infer!;
      const on = v.mem_pattern!;
      return [
        v.dtype,
        `${off.median_seconds.toFixed(2)} / ${on.median_seconds.toFixed(2)}`,
        `${off.best_seconds.toFixed(2)} / ${on.best_seconds.toFixed(2)}`,
        `${(off.peak_rss_bytes / GB).toFixed(2)} / ${(on.peak_rss_bytes / GB).toFixed(2)}`,
        on.vs_reference.max_abs === off.vs_reference.max_abs ? 'identical' : sci(on.vs_reference.max_abs),
      ];
    });
  return [['dtype', 'median s (off / on)', 'best s (off / on)', 'peak RSS GB (off / on)', 'max abs vs ref (on)'], ...rows];
}

export function targetTable(r: BenchResults): string[][] {
  return [['metric', 'measured', 'target', 'result'], ...targetRows(r).map((t) => [t.metric, t.measured, t.target, verdict(t.pass)])];
}

export function flopTable(r: BenchResults): string[][] {
  const f = r.flops;
  const share = (v: number) => `${((v / f.total) * 100).toFixed(1)} %`;
  const g = (v: number) => (v / 1e9).toFixed(1);
  return [
    ['part', 'GFLOP', 'share'],
    ['patch embedding (2 canvases)', g(f.patch_embed), share(f.patch_embed)],
    ['encoder Linear (qkv, proj, MLP)', g(f.linear), share(f.linear)],
    ['attention (q·kᵀ, ·v)', g(f.attention), share(f.attention)],
    ['relative positions', g(f.rel_pos), share(f.rel_pos)],
    ['decoder (embed Linear, Conv3×3, head)', g(f.decoder), share(f.decoder)],
    ['total', g(f.total), '100 %'],
  ];
}

/** Plain-text table for the console. */
export function formatText(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (cell ?? '').padEnd(widths[c])).join('  ').trimEnd();
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export function formatMarkdown(rows: string[][]): string {
  const line = (r: string[]) => `| ${r.map((c) => (c ?? '').replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(rows[0]), line(rows[0].map(() => '---')), ...rows.slice(1).map(line)].join('\n');
}

export function consoleReport(r: BenchResults): string {
  const ideal = idealSeconds(r);
  return [
    `Machine: ${r.machine.cpu_model}, ${r.machine.cores} cores, onnxruntime-node ${r.machine.onnxruntime_node}, load ${r.load.start.toFixed(1)} → ${r.load.end.toFixed(1)}`,
    `Roof: ${roofGflops(r).toFixed(1)} GFLOP/s (fp32 MatMul ${r.roofline[0].shape.join('×')}, best run); model ${(r.flops.total / 1e12).toFixed(3)} TFLOP → ideal ${ideal.toFixed(2)} s`,
    '',
    formatText(variantTable(r)),
    '',
    formatText(targetTable(r)),
    ...contentionNotes(r).map((n) => `WARNING: ${n}`),
    '',
    'enableMemPattern off (bench and library default) / on (onnxruntime default)',
    formatText(memPatternTable(r)),
  ].join('\n');
}

export function markdownReport(r: BenchResults): string {
  const m = r.machine;
  const ideal = idealSeconds(r);
  const fp32 = variant(r, 'fp32')?.infer;
  return `# Benchmarks

Generated by \`npm run build && npm run bench\` (bench/run.ts) on ${m.date.slice(0, 10)}. Do not edit by hand: rerun the bench.

Model: ViT-L SegGPT (\`BAAI/seggpt-vit-large\` config: hidden 1024, 24 layers, 448×448 per image) with
synthetic-v1 weights (shared/SEGGPT.md), checkpoint ${(r.checkpoint.bytes / GB).toFixed(2)} GB. Every measurement ran
in its own Node child process (peak RSS = that process's \`maxRSS\`). Inference: one query with one prompt
(fixture case \`01_single_binary_semantic\`), ${r.warmups} warm-up run(s), then the median of ${r.runs} runs.
Sessions: onnxruntime-node CPU, \`intraOpNumThreads: ${m.cores}\`, \`interOpNumThreads: 1\`, sequential, graph optimisation \`all\`,
\`enableMemPattern: false\` (the library's default).

## Machine

| | |
| --- | --- |
| CPU | ${m.cpu_model} (${m.simd}) |
| cores | ${m.cores} |
| memory | ${m.memory_gib.toFixed(1)} GiB |
| Node | ${m.node} |
| onnxruntime-node | ${m.onnxruntime_node} |
| 1-min load average at start → end | ${r.load.start.toFixed(2)} → ${r.load.end.toFixed(2)} (a load above ${m.cores} means other work shared the cores) |

## Targets

${formatMarkdown(targetTable(r))}
${contentionNotes(r)
  .map((n) => `\n> **Warning:** ${n}.`)
  .join('\n')}

## Precision variants

${formatMarkdown(variantTable(r))}

- *vs fp32*: against the fp32 ONNX model's pred_masks; *vs ref*: against the PyTorch reference \`pred_masks.npy\`.
- *binary agree*: share of answer-half pixels whose post-processed grey level (channel mean of
  clip((x·std + mean)·255, 0, 255)) falls on the same side of 128. With synthetic weights the answer is no real
  segmentation; the number says how often a variant's error flips a pixel across the threshold.
- *CPU share*: CPU time the measuring process got during its timed runs ÷ (wall time × ${m.cores} threads). Near 100 % on
  an idle machine; lower means other processes took cores and that row's times are inflated.
- *convert s*: each variant converted alone from the checkpoint (separate child process).

### Memory pattern

With \`enableMemPattern\` on (onnxruntime's default) onnxruntime allocates one planned block for all intermediate
tensors from the second run on, while the arena still holds the first run's chunks, so the peak RSS grows. The
bench runs, like the library's models (src/models/seggpt_session.ts), with it off; the same runs with it on:

${formatMarkdown(memPatternTable(r))}

## Roofline

- fp32 MatMul ${r.roofline[0].shape.join(' × ')} (A input × B constant) in onnxruntime-node, measured at the start and right
  after the fp32 runs, ${r.roofline[0].run_seconds.length} timed runs each after a warm-up:
${r.roofline.map((m, i) => `  ${i + 1}. best ${m.best_gflops.toFixed(1)} GFLOP/s, median ${m.median_gflops.toFixed(1)} GFLOP/s`).join('\n')}
- Roof = the best of these: **${roofGflops(r).toFixed(1)} GFLOP/s**.
- Model FLOPs (analytic, bench/flops.ts; 2 per multiply-add, element-wise ops not counted):

${formatMarkdown(flopTable(r))}

- Ideal fp32 time = ${(r.flops.total / 1e9).toFixed(0)} GFLOP ÷ ${roofGflops(r).toFixed(1)} GFLOP/s = **${ideal.toFixed(2)} s**;
  measured ${fp32 ? `${fp32.median_seconds.toFixed(2)} s = **${(fp32.median_seconds / ideal).toFixed(2)}×** ideal` : 'not measured'}.
${q8Roof(r)}

## Converter

- fp32: ${r.convert_fp32.seconds.toFixed(1)} s, peak RSS ${(r.convert_fp32.peak_rss_bytes / GB).toFixed(2)} GB
  (synthetic checkpoint ${r.checkpoint.reused ? 'reused from the cache' : `built in ${r.checkpoint.build_seconds.toFixed(1)} s`}).
${r.variants
  .filter((v) => v.dtype !== 'fp32')
  .map((v) => `- ${v.dtype}: ${v.convert.seconds.toFixed(1)} s, peak RSS ${(v.convert.peak_rss_bytes / GB).toFixed(2)} GB`)
  .join('\n')}

## Pre- and post-processing

${
  r.prepost
    ? `SegGPTImageProcessor on the fixture PNGs (query ${hw(r.prepost.query_size)}, prompt ${hw(r.prepost.prompt_size)}, decoded beforehand) →
448×448 tensors: preprocess ${(r.prepost.preprocess_seconds * 1000).toFixed(1)} ms, post_process_semantic_segmentation
(back to ${hw(r.prepost.query_size)}) ${(r.prepost.postprocess_seconds * 1000).toFixed(1)} ms (medians of 10 calls after a warm-up);
pixel_values vs the reference processor's: max abs ${r.prepost.pixel_values_max_abs.toExponential(2)}.`
    : 'Not measured (src/processors/image_processing_seggpt.ts missing or failed).'
}

Whole bench: ${(r.total_seconds / 60).toFixed(1)} min.
`;
}

/**
 * Other benchmarks (e.g. bench/browser_wasm.ts) keep their own sections in BENCHMARKS.md between
 * `<!-- bench:NAME start -->` and `<!-- bench:NAME end -->`; a rewrite of this report carries them over.
 */
export function withForeignSections(report: string, previous: string | undefined): string {
  if (!previous) return report;
  const blocks = previous.match(/<!-- bench:([\w-]+) start -->[\s\S]*?<!-- bench:\1 end -->/g) ?? [];
  return blocks.length ? `${report.trimEnd()}\n\n${blocks.join('\n\n')}\n` : report;
}

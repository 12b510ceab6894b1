/**
 * The GPU run (`bash bench/gpu/run.sh`, which calls this as `node dist/bench/gpu/main.js`): on a machine with a GPU and
 * no network, generates the synthetic checkpoint with the project's CLI (`seggpt synthetic`), converts it to fp32, fp16
 * and q4f16 (`seggpt convert`), runs each on onnxruntime-node's WebGPU provider and the fp32/fp16 variants on its CPU
 * provider, runs the checkpoint itself in PyTorch on CUDA (torch_anchor.py) where python has torch, and prints one table:
 * first-run and best-of-N times, max |Δ| against CPU fp32 and mask IoU after post-processing, plus the two targets
 * (fp16 WebGPU ≤ 2× PyTorch CUDA fp16; fp16 WebGPU parity at the CPU fp16 variant's level). Each step runs in its own
 * process under an overall deadline; a failing or timed-out row is reported and the run goes on. results.json and
 * results.md are rewritten after every step, so a run cut short still leaves what it measured.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { readNpy } from '../../dev/npy.js';
import { machineFacts } from '../machine.js';
import { parity, type Parity } from './compare.js';
import { writeInputs, type InputsMeta } from './inputs.js';
import type { RowArgs, RowMeasurement } from './worker.js';

/** Variants the run converts; fp32 on the CPU is the reference of every parity column. */
const DTYPES = ['fp32', 'fp16', 'q4f16'] as const;
/** The issue's speed target: fp16 on Node WebGPU within this factor of PyTorch CUDA fp16 (best run against best run). */
const SPEED_TARGET = 2;
/**
 * "fp16 parity at the CPU fp16 variant's level": WebGPU fp16's distance to CPU fp32 (max and mean |Δ|) at most this
 * factor above CPU fp16's. CPU fp16 rounds weights and activations to fp16 but onnxruntime computes many of its ops in
 * fp32 through casts; a GPU does fp16 arithmetic, so some growth is expected, but not an order of magnitude.
 */
const PARITY_LEVEL_FACTOR = 2;

const here = dirname(fileURLToPath(import.meta.url));
/** dist/ of this build: main.js is dist/bench/gpu/main.js. */
const distRoot = resolve(here, '..', '..');
const started = Date.now();

function log(message: string): void {
  process.stderr.write(`[gpu-bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${message}\n`);
}

function options() {
  const { values } = parseArgs({
    options: {
      size: { type: 'string', default: 'full' },
      out: { type: 'string', default: 'bench/gpu/results' },
      work: { type: 'string' },
      runs: { type: 'string', default: '10' },
      'cpu-runs': { type: 'string', default: '3' },
      deadline: { type: 'string' },
      'tiny-config': { type: 'string', default: 'bench/gpu/tiny_config.json' },
      python: { type: 'string', default: process.env.SEGGPT_PYTHON ?? 'python3' },
      'torch-script': { type: 'string', default: 'bench/gpu/torch_anchor.py' },
      keep: { type: 'boolean', default: false },
    },
  });
  if (values.size !== 'full' && values.size !== 'tiny') throw new Error(`--size must be full or tiny, got ${values.size}`);
  return {
    size: values.size as 'full' | 'tiny',
    out: resolve(values.out),
    work: values.work ? resolve(values.work) : undefined,
    runs: Math.max(1, Number(values.runs)),
    cpuRuns: Math.max(1, Number(values['cpu-runs'])),
    /** Epoch milliseconds by which the report must be out (run.sh passes its own start + budget). */
    deadline: values.deadline ? Number(values.deadline) : started + 540_000,
    tinyConfig: resolve(values['tiny-config']),
    python: values.python,
    torchScript: resolve(values['torch-script']),
    keep: values.keep,
  };
}
type Options = ReturnType<typeof options>;

// ---------------------------------------------------------------------------------------------------------------------
// Child processes under the deadline

interface StepResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
  timed_out: boolean;
  stdout: string;
  /** The last few kB of stderr (verbose placement logs excluded). */
  stderr_tail: string;
  /** onnxruntime "Node placements" counts, when the child printed them. */
  placement?: Record<string, number>;
}

const PLACEMENT = /placed on \[(\w+)\]\. Number of nodes: (\d+)/;

function runStep(command: string, args: string[], timeoutSeconds: number, env: NodeJS.ProcessEnv = process.env): Promise<StepResult> {
  return new Promise((resolvePromise) => {
    const t0 = performance.now();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let tail = '';
    let pending = '';
    let inPlacement = false;
    let placement: Record<string, number> | undefined;
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'PLACEMENT_BEGIN') inPlacement = true;
        else if (line === 'PLACEMENT_END') inPlacement = false;
        else if (inPlacement) {
          const m = PLACEMENT.exec(line);
          if (m) (placement ??= {})[m[1]] = (placement[m[1]] ?? 0) + Number(m[2]);
        } else {
          tail = (tail + line + '\n').slice(-4000);
          // Progress of long steps (conversion, torch) stays visible.
          if (/^\[torch\]|^wrote |^building |^warning/.test(line)) log(`  ${line}`);
        }
      }
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, Math.max(1, timeoutSeconds) * 1000);
    const finish = (code: number | null, signal: NodeJS.Signals | null, extra = '') => {
      clearTimeout(timer);
      resolvePromise({ code, signal, seconds: (performance.now() - t0) / 1000, timed_out: timedOut, stdout, stderr_tail: (tail + pending + extra).slice(-4000), placement });
    };
    child.on('error', (error) => finish(127, null, `\n${error.message}`));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** Why a child failed: timeout, signal, or (exit 1 with a message) the message itself, without its stack. */
function failure(step: StepResult, what: string, timeoutSeconds: number): string {
  if (step.timed_out) return `${what} timed out after ${timeoutSeconds.toFixed(0)} s`;
  const lines = step.stderr_tail
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('at ') && !l.startsWith('[') && !/^\^+$/.test(l));
  const message = (lines.find((l) => /^\w*(Error|error)\b|^error:/.test(l)) ?? lines.slice(-2).join(' | ')).slice(0, 600);
  if (step.signal) return `${what} killed by ${step.signal}${step.signal === 'SIGKILL' ? ' (out of memory?)' : ''}${message ? `: ${message}` : ''}`;
  return step.code === 1 && message ? message : `${what} exited with ${step.code}${message ? `: ${message}` : ''}`;
}

// ---------------------------------------------------------------------------------------------------------------------
// Results

interface Row {
  variant: string;
  provider: string;
  status: 'ok' | 'failed' | 'skipped' | 'pending';
  note?: string;
  create_seconds?: number;
  first_seconds?: number;
  best_seconds?: number;
  median_seconds?: number;
  runs?: number;
  output_type?: string;
  placement?: Record<string, number>;
  parity?: Parity;
  pred_path?: string;
}

interface Report {
  title: string;
  size: 'full' | 'tiny';
  partial: boolean;
  machine: ReturnType<typeof machineFacts>;
  gpu: string;
  vulkan: Record<string, string>;
  steps: Record<string, { seconds?: number; status: string; note?: string }>;
  inputs?: InputsMeta;
  rows: Row[];
  targets: { metric: string; measured: string; target: string; result: string }[];
  torch?: Record<string, unknown>;
  total_seconds: number;
}

const PROVIDERS = { cpu: 'onnxruntime-node CPU', webgpu: 'onnxruntime-node WebGPU', torch: 'PyTorch CUDA' } as const;

function gpuDescription(): string {
  const smi = spawnSync('nvidia-smi', ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8' });
  if (smi.status === 0 && smi.stdout.trim()) return smi.stdout.trim().split('\n').join('; ');
  return 'no nvidia-smi (no NVIDIA GPU visible)';
}

const fmtS = (v: number | undefined) => (v === undefined ? '—' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0));
const fmtE = (v: number | undefined) => (v === undefined ? '—' : v === 0 ? '0' : v.toExponential(2));
const fmtIoU = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(4));

/** Notes in the table stay one line; results.json keeps them whole. */
const short = (note: string | undefined, max = 180) => (!note ? '' : note.length <= max ? note : `${note.slice(0, max - 1)}…`);

function placementText(p: Record<string, number> | undefined): string {
  if (!p) return '';
  return Object.entries(p)
    .map(([ep, n]) => `${ep.replace('ExecutionProvider', '')} ${n}`)
    .join(', ');
}

function tableRows(report: Report): string[][] {
  const header = ['variant', 'provider', 'create s', 'first run s', 'best s', 'max |Δ| vs CPU fp32', 'mean |Δ|', 'IoU vs CPU fp32', 'note'];
  const rows = report.rows.map((r) => [
    r.variant,
    r.provider,
    fmtS(r.create_seconds),
    fmtS(r.first_seconds),
    r.best_seconds === undefined ? '—' : `${fmtS(r.best_seconds)}${r.runs ? ` (of ${r.runs})` : ''}`,
    r.variant === 'fp32' && r.provider === PROVIDERS.cpu && r.status === 'ok' ? 'reference' : fmtE(r.parity?.max_abs),
    fmtE(r.parity?.mean_abs),
    fmtIoU(r.parity?.iou),
    [r.status === 'ok' ? '' : `${r.status}:`, short(r.note), r.placement ? `nodes: ${placementText(r.placement)}` : ''].filter(Boolean).join(' '),
  ]);
  return [header, ...rows];
}

function consoleTable(cells: string[][]): string {
  const widths = cells[0].map((_, i) => Math.max(...cells.map((row) => (i === cells[0].length - 1 ? 0 : row[i].length))));
  return cells.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ')).join('\n');
}

function markdownTable(cells: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${cells[0].map(esc).join(' | ')} |`,
    `| ${cells[0].map((_, i) => (i >= 2 && i <= 7 ? '---:' : '---')).join(' | ')} |`,
    ...cells.slice(1).map((row) => `| ${row.map((c) => esc(c || ' ')).join(' | ')} |`),
  ].join('\n');
}

function find(report: Report, variant: string, provider: string): Row | undefined {
  return report.rows.find((r) => r.variant === variant && r.provider === provider && r.status === 'ok');
}

function computeTargets(report: Report): Report['targets'] {
  const targets: Report['targets'] = [];
  const gpu16 = find(report, 'fp16', PROVIDERS.webgpu);
  const torch16 = find(report, 'fp16', PROVIDERS.torch);
  const torchRow = report.rows.find((r) => r.provider === PROVIDERS.torch && r.variant === 'fp16');
  if (gpu16?.best_seconds !== undefined && torch16?.best_seconds !== undefined) {
    const ratio = gpu16.best_seconds / torch16.best_seconds;
    targets.push({ metric: 'fp16 WebGPU / PyTorch CUDA fp16 (best s)', measured: `${ratio.toFixed(2)}×`, target: `≤ ${SPEED_TARGET}×`, result: ratio <= SPEED_TARGET ? 'pass' : 'fail' });
  } else {
    const why = !gpu16 ? 'no fp16 WebGPU result' : `no PyTorch CUDA fp16 result${torchRow?.note ? ` (${torchRow.note})` : ''}`;
    targets.push({ metric: 'fp16 WebGPU / PyTorch CUDA fp16 (best s)', measured: `not measured: ${why}`, target: `≤ ${SPEED_TARGET}×`, result: 'not measured' });
  }
  const cpu16 = find(report, 'fp16', PROVIDERS.cpu);
  if (gpu16?.parity && cpu16?.parity) {
    const maxRatio = gpu16.parity.max_abs / cpu16.parity.max_abs;
    const meanRatio = gpu16.parity.mean_abs / cpu16.parity.mean_abs;
    const ok = maxRatio <= PARITY_LEVEL_FACTOR && meanRatio <= PARITY_LEVEL_FACTOR;
    targets.push({
      metric: 'fp16 WebGPU parity at the CPU fp16 level (|Δ| vs CPU fp32, WebGPU ÷ CPU fp16)',
      measured: `max ${maxRatio.toFixed(2)}×, mean ${meanRatio.toFixed(2)}× (IoU ${fmtIoU(gpu16.parity.iou)} vs ${fmtIoU(cpu16.parity.iou)})`,
      target: `≤ ${PARITY_LEVEL_FACTOR}× both`,
      result: ok ? 'pass' : 'fail',
    });
  } else {
    targets.push({
      metric: 'fp16 WebGPU parity at the CPU fp16 level (|Δ| vs CPU fp32, WebGPU ÷ CPU fp16)',
      measured: `not measured: ${!gpu16 ? 'no fp16 WebGPU result' : 'no CPU fp16 result'}`,
      target: `≤ ${PARITY_LEVEL_FACTOR}× both`,
      result: 'not measured',
    });
  }
  const torch32 = find(report, 'fp32', PROVIDERS.torch);
  if (torch32?.parity) {
    targets.push({ metric: 'PyTorch CUDA fp32 vs onnxruntime CPU fp32 (converter check)', measured: `max |Δ| ${fmtE(torch32.parity.max_abs)}`, target: 'info', result: 'info' });
  }
  return targets;
}

function render(report: Report): { text: string; markdown: string } {
  const cells = tableRows(report);
  const targetCells = [['metric', 'measured', 'target', 'result'], ...report.targets.map((t) => [t.metric, t.measured, t.target, t.result])];
  const head = [
    `${report.title}${report.partial ? ' (partial: run still going or cut short)' : ''}`,
    `machine: ${report.machine.cpu_model}, ${report.machine.cores} cores; GPU: ${report.gpu}`,
    `Node ${report.machine.node}, onnxruntime-node ${report.machine.onnxruntime_node}; Vulkan: ${Object.entries(report.vulkan).map(([k, v]) => `${k}=${v}`).join(' ') || 'loader defaults'}`,
    `steps: ${Object.entries(report.steps).map(([k, v]) => `${k} ${v.seconds !== undefined ? `${fmtS(v.seconds)} s` : ''}${v.status !== 'ok' ? ` (${v.status}${v.note ? `: ${short(v.note, 120)}` : ''})` : ''}`).join(', ')}; total ${fmtS(report.total_seconds)} s`,
  ];
  const text = [...head, '', consoleTable(cells), '', consoleTable(targetCells)].join('\n');
  const markdown = [
    `# ${report.title}`,
    '',
    'Generated by `bash bench/gpu/run.sh` (bench/gpu/README.md). Times: wall seconds of one model call (query + one prompt,',
    '`embedding_type: semantic`) through `SegGPTForImageSegmentation` (Node) or `SegGptForImageSegmentation` (PyTorch,',
    'CUDA-synchronised); *create* is loading the model, *first run* the first call after it (shader compilation, uploads),',
    '*best* the fastest of the following runs. Parity: pred_masks against the onnxruntime CPU fp32 row; IoU of the',
    'foreground (grey ≥ 128) after `post_process_semantic_segmentation` at the query size.',
    '',
    ...head.slice(1).map((l) => `- ${l}`),
    '',
    markdownTable(cells),
    '',
    '## Targets',
    '',
    markdownTable(targetCells).replace(/---:/g, '---'),
    '',
  ].join('\n');
  return { text, markdown };
}

function publish(report: Report, opts: Options, final: boolean): void {
  report.partial = !final;
  report.total_seconds = (Date.now() - started) / 1000;
  report.targets = computeTargets(report);
  mkdirSync(opts.out, { recursive: true });
  const { text, markdown } = render(report);
  writeFileSync(join(opts.out, 'results.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(opts.out, 'results.md'), markdown);
  if (final) {
    process.stdout.write(`\n${text}\n\nwrote ${join(opts.out, 'results.json')} and ${join(opts.out, 'results.md')}\n`);
  }
}

// ---------------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const opts = options();
  const remaining = () => (opts.deadline - Date.now()) / 1000;
  /** Seconds a step may take: its own cap, and never past the deadline less the time the report needs. */
  const budget = (cap: number) => Math.min(cap, remaining() - 8);
  const tiny = opts.size === 'tiny';
  const node = process.execPath;
  const cli = join(distRoot, 'cli', 'seggpt.js');
  const workerScript = join(here, 'worker.js');
  const work = opts.work ?? mkdtempSync(join(tmpdir(), 'seggpt-gpu-'));
  mkdirSync(work, { recursive: true });
  const checkpoint = join(work, 'checkpoint');
  const inputsDir = join(work, 'inputs');

  const vulkan: Record<string, string> = {};
  for (const key of ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES', 'VK_LOADER_LAYERS_DISABLE']) if (process.env[key]) vulkan[key] = process.env[key]!;
  const report: Report = {
    title: `SegGPT GPU run: ${tiny ? 'tiny synthetic config (pipeline check, timings meaningless)' : 'full-size synthetic ViT-L'}`,
    size: opts.size,
    partial: true,
    machine: machineFacts(),
    gpu: gpuDescription(),
    vulkan,
    steps: {},
    rows: [],
    targets: [],
    total_seconds: 0,
  };
  // Table order; run order is below.
  const rowOf = (variant: string, provider: string): Row => {
    let row = report.rows.find((r) => r.variant === variant && r.provider === provider);
    if (!row) {
      row = { variant, provider, status: 'pending' };
      report.rows.push(row);
    }
    return row;
  };
  for (const [variant, provider] of [
    ['fp32', PROVIDERS.cpu],
    ['fp16', PROVIDERS.cpu],
    ['fp32', PROVIDERS.webgpu],
    ['fp16', PROVIDERS.webgpu],
    ['q4f16', PROVIDERS.webgpu],
    ['fp32', PROVIDERS.torch],
    ['fp16', PROVIDERS.torch],
  ] as const) rowOf(variant, provider);

  let finished = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (finished) return;
    log(`${signal}: writing what was measured`);
    publish(report, opts, true);
    process.exit(130);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  log(`${report.machine.cpu_model}, ${report.machine.cores} cores; GPU: ${report.gpu}; ${remaining().toFixed(0)} s to the deadline; work folder ${work}`);

  // 1. The synthetic checkpoint, written by the project's CLI.
  log(`seggpt synthetic (${tiny ? 'tiny config' : 'ViT-L defaults'}) …`);
  const synthArgs = [cli, 'synthetic', '--output', checkpoint, ...(tiny ? ['--config', opts.tinyConfig] : [])];
  const synth = await runStep(node, synthArgs, budget(240));
  report.steps.synthetic = { seconds: synth.seconds, status: synth.code === 0 ? 'ok' : 'failed', note: synth.code === 0 ? undefined : failure(synth, 'synthetic', budget(240)) };
  log(`  ${report.steps.synthetic.status} in ${synth.seconds.toFixed(1)} s`);
  if (synth.code !== 0) {
    for (const r of report.rows) Object.assign(r, { status: 'skipped', note: 'no checkpoint' });
    finished = true;
    publish(report, opts, true);
    process.exitCode = 1;
    return;
  }

  // 2. Conversions, one process per variant (in parallel where the cores allow: each is mostly one thread).
  const modelDir = (dtype: string) => join(work, `onnx-${dtype}`);
  const converted = new Set<string>();
  const parallel = Math.max(1, Math.min(DTYPES.length, Math.floor(availableParallelism() / 4)));
  log(`seggpt convert → ${DTYPES.join(', ')} (${parallel} at a time) …`);
  const queue = [...DTYPES];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let dtype = queue.shift(); dtype; dtype = queue.shift()) {
        const cap = budget(300);
        if (cap < 5) {
          report.steps[`convert ${dtype}`] = { status: 'skipped', note: 'deadline' };
          continue;
        }
        const step = await runStep(node, [cli, 'convert', checkpoint, '--output', modelDir(dtype), '--dtype', dtype, '--overwrite'], cap);
        const ok = step.code === 0;
        if (ok) converted.add(dtype);
        report.steps[`convert ${dtype}`] = { seconds: step.seconds, status: ok ? 'ok' : 'failed', note: ok ? undefined : failure(step, `convert ${dtype}`, cap) };
        log(`  convert ${dtype}: ${ok ? 'ok' : report.steps[`convert ${dtype}`].note} in ${step.seconds.toFixed(1)} s`);
      }
    }),
  );
  publish(report, opts, false);

  // 3. The inputs every row uses, through the project's processor.
  const meta = await writeInputs(checkpoint, inputsDir);
  log(`inputs: pixel_values [${meta.shape.join(', ')}] from a ${meta.original_size[1]}×${meta.original_size[0]} query`);
  let reference: Float32Array | undefined;
  let referenceDims: number[] | undefined;

  const withParity = (row: Row, pred: Float32Array, dims: readonly number[]) => {
    if (!reference || !referenceDims) return;
    if (dims.join() !== referenceDims.join()) {
      row.note = [row.note, `pred_masks dims [${dims.join(', ')}] ≠ reference [${referenceDims.join(', ')}]`].filter(Boolean).join('; ');
      return;
    }
    row.parity = parity(pred, reference, dims, meta);
  };

  // 4. Node rows, one process each.
  const nodeRow = async (device: 'cpu' | 'webgpu', dtype: string) => {
    const row = rowOf(dtype, PROVIDERS[device]);
    if (!converted.has(dtype)) return Object.assign(row, { status: 'skipped', note: `no ${dtype} model (conversion failed or skipped)` });
    const cap = budget(tiny ? 300 : device === 'cpu' ? 200 : 180);
    if (cap < 10) return Object.assign(row, { status: 'skipped', note: 'deadline' });
    const runs = device === 'cpu' ? opts.cpuRuns : opts.runs;
    log(`${row.provider} ${dtype}: load, first run, ${runs} runs (up to ${cap.toFixed(0)} s) …`);
    const predPath = join(work, `pred_${device}_${dtype}.npy`);
    const args: RowArgs = { model_dir: modelDir(dtype), device, dtype, inputs_dir: inputsDir, runs, pred_path: predPath, placement: device === 'webgpu' };
    const step = await runStep(node, [workerScript, JSON.stringify(args)], cap);
    const line = step.stdout.split('\n').find((l) => l.startsWith('BENCH_RESULT '));
    if (step.code !== 0 || !line) {
      Object.assign(row, { status: 'failed', note: failure(step, 'worker', cap), placement: step.placement });
      log(`  failed: ${row.note}`);
      return row;
    }
    const m = JSON.parse(line.slice('BENCH_RESULT '.length)) as RowMeasurement;
    Object.assign(row, {
      status: 'ok',
      create_seconds: m.create_seconds,
      first_seconds: m.first_seconds,
      best_seconds: m.best_seconds,
      median_seconds: m.median_seconds,
      runs: m.run_seconds.length,
      output_type: m.output_type,
      placement: step.placement,
      pred_path: predPath,
    });
    const pred = readNpy(predPath).data as Float32Array;
    if (device === 'cpu' && dtype === 'fp32') {
      reference = pred;
      referenceDims = m.dims;
    } else withParity(row, pred, m.dims);
    log(`  create ${fmtS(m.create_seconds)} s, first ${fmtS(m.first_seconds)} s, best ${fmtS(m.best_seconds)} s${row.parity ? `, max |Δ| ${fmtE(row.parity.max_abs)}, IoU ${fmtIoU(row.parity.iou)}` : ''}${row.placement ? `, nodes: ${placementText(row.placement)}` : ''}`);
    return row;
  };

  const torchRows = async () => {
    const rows = ['fp32', 'fp16'].map((d) => rowOf(d, PROVIDERS.torch));
    const skip = (note: string, status: Row['status'] = 'skipped') => rows.forEach((r) => Object.assign(r, { status, note }));
    const probe = spawnSync(opts.python, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' });
    if (probe.status !== 0) return skip(`no python (${opts.python} not found)`);
    const cap = budget(tiny ? 300 : 240);
    if (cap < 10) return skip('deadline');
    log(`PyTorch CUDA anchor (python ${probe.stdout.trim()}, up to ${cap.toFixed(0)} s) …`);
    const outDir = join(work, 'torch');
    const step = await runStep(opts.python, [opts.torchScript, '--checkpoint', checkpoint, '--inputs', inputsDir, '--out', outDir, '--runs', String(opts.runs)], cap, {
      ...process.env,
      PYTHONUNBUFFERED: '1',
    });
    const line = step.stdout.split('\n').find((l) => l.startsWith('TORCH_RESULT '));
    if (!line) return skip(failure(step, 'torch_anchor.py', cap), 'failed');
    const result = JSON.parse(line.slice('TORCH_RESULT '.length)) as {
      skipped?: string;
      error?: string;
      rows?: { dtype: string; error?: string; first_seconds: number; best_seconds: number; median_seconds: number; run_seconds: number[]; pred: string }[];
      load_seconds?: number;
      [key: string]: unknown;
    };
    report.torch = Object.fromEntries(Object.entries(result).filter(([k]) => k !== 'rows'));
    if (result.skipped) {
      log(`  skipped: ${result.skipped}`);
      return skip(result.skipped);
    }
    if (result.error) return skip(result.error, 'failed');
    for (const r of result.rows ?? []) {
      const row = rowOf(r.dtype, PROVIDERS.torch);
      if (r.error) {
        Object.assign(row, { status: 'failed', note: r.error.slice(0, 300) });
        continue;
      }
      const pred = readNpy(r.pred);
      Object.assign(row, {
        status: 'ok',
        create_seconds: r.dtype === 'fp32' ? result.load_seconds : undefined,
        first_seconds: r.first_seconds,
        best_seconds: r.best_seconds,
        median_seconds: r.median_seconds,
        runs: r.run_seconds.length,
        pred_path: r.pred,
        note: [
          `torch ${String(result.torch)}, transformers ${String(result.transformers)}${r.dtype === 'fp32' ? ', no TF32' : ''}`,
          result.loading_problems ? `checkpoint loading: ${JSON.stringify(result.loading_problems)}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      });
      withParity(row, pred.data as Float32Array, pred.shape);
    }
    log(`  ${rows.map((r) => `${r.variant} ${r.status === 'ok' ? `best ${fmtS(r.best_seconds)} s` : r.status}`).join(', ')}`);
  };

  // Run order: the reference first, then what the targets need, then the rest.
  const order: (() => Promise<unknown>)[] = [
    () => nodeRow('cpu', 'fp32'),
    () => nodeRow('webgpu', 'fp16'),
    () => torchRows(),
    () => nodeRow('cpu', 'fp16'),
    () => nodeRow('webgpu', 'fp32'),
    () => nodeRow('webgpu', 'q4f16'),
  ];
  for (const step of order) {
    await step();
    publish(report, opts, false);
  }
  for (const r of report.rows) if (r.status === 'pending') Object.assign(r, { status: 'skipped', note: 'not run' });
  if (!reference) for (const r of report.rows) if (r.status === 'ok') r.note = [r.note, 'no CPU fp32 reference'].filter(Boolean).join('; ');

  finished = true;
  publish(report, opts, true);
  // A run without its reference measured nothing comparable.
  if (!reference) process.exitCode = 1;
  if (!opts.keep && !opts.work) rmSync(work, { recursive: true, force: true });
  else log(`kept ${work}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : error);
  process.exit(1);
});

/** Summaries of an onnxruntime profiling trace (the JSON `enableProfiling` writes). */
import { readFileSync } from 'node:fs';

interface TraceEvent {
  cat?: string;
  name?: string;
  dur?: number;
  args?: { op_name?: string; provider?: string };
}

export interface TimeShare {
  key: string;
  /** Kernel time in milliseconds. */
  ms: number;
  calls: number;
  share: number;
}

export interface TraceSummary {
  total_kernel_ms: number;
  by_op: TimeShare[];
  /** Node names with layer numbers folded (`layers.N.`), so the 24 layers add up per pattern. */
  by_node_pattern: TimeShare[];
}

/** `model.encoder.layers.17.attention.qkv` → `model.encoder.layers.N.attention.qkv`. */
export function nodePattern(nodeName: string): string {
  return nodeName.replace(/\.layers\.\d+\./g, '.layers.N.').replace(/_\d+$/, '');
}

function tally(entries: { key: string; us: number }[], total: number): TimeShare[] {
  const map = new Map<string, { us: number; calls: number }>();
  for (const { key, us } of entries) {
    const e = map.get(key) ?? { us: 0, calls: 0 };
    e.us += us;
    e.calls++;
    map.set(key, e);
  }
  return [...map]
    .map(([key, e]) => ({ key, ms: e.us / 1000, calls: e.calls, share: e.us / total }))
    .sort((a, b) => b.ms - a.ms);
}

export function summariseTrace(path: string): TraceSummary {
  const events = JSON.parse(readFileSync(path, 'utf8')) as TraceEvent[];
  const kernels = events
    .filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time') && typeof e.dur === 'number')
    .map((e) => ({ node: e.name!.slice(0, -'_kernel_time'.length), op: e.args?.op_name ?? '?', us: e.dur! }));
  const total = kernels.reduce((s, k) => s + k.us, 0);
  return {
    total_kernel_ms: total / 1000,
    by_op: tally(
      kernels.map((k) => ({ key: k.op, us: k.us })),
      total,
    ),
    by_node_pattern: tally(
      kernels.map((k) => ({ key: `${k.op} ${nodePattern(k.node)}`, us: k.us })),
      total,
    ),
  };
}

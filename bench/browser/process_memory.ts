/**
 * Memory and CPU time of the browser's processes, read from Linux /proc: the Chromium that playwright starts is a tree
 * of processes under this Node process (browser, zygote, GPU, renderers). A renderer is the one with `--type=renderer`
 * on its command line; the page's JavaScript, its WebAssembly heap and ONNX Runtime's worker threads all live there.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface ProcessMemory {
  pid: number;
  /** The process's `--type=` (renderer, gpu-process, zygote, utility) or 'browser'. */
  type: string;
  /** Resident set now, bytes (VmRSS). */
  rss: number;
  /** Peak resident set since the process started, bytes (VmHWM, kept by the kernel). */
  peak_rss: number;
  /** User + system CPU seconds the process has used. */
  cpu_seconds: number;
}

const CLOCK_TICKS = 100;

function read(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    // The process ended between listing and reading.
    return null;
  }
}

/** Fields of /proc/<pid>/stat after the `(comm)` field, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] | null {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === null) return null;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Every living descendant of `root` (not root itself). */
export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const fields = statFields(Number(name));
    if (!fields) continue;
    // fields[1] is the parent pid (field 4 of stat; state is fields[0]).
    const parent = Number(fields[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(name));
    children.set(parent, list);
  }
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift()!;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

function kilobytes(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

export function processMemory(pid: number): ProcessMemory | null {
  const status = read(`/proc/${pid}/status`);
  const cmdline = read(`/proc/${pid}/cmdline`);
  const fields = statFields(pid);
  if (status === null || cmdline === null || fields === null) return null;
  const type = /--type=([\w-]+)/.exec(cmdline.replaceAll('\0', ' '))?.[1] ?? 'browser';
  // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the comm field.
  const cpu_seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  return { pid, type, rss: kilobytes(status, 'VmRSS'), peak_rss: kilobytes(status, 'VmHWM'), cpu_seconds };
}

/** The browser's processes under this Node process (empty where /proc is missing). */
export function browserProcesses(root = process.pid): ProcessMemory[] {
  if (!existsSync('/proc/self/status')) return [];
  return descendants(root)
    .map(processMemory)
    .filter((p): p is ProcessMemory => p !== null);
}

export interface MemorySampler {
  /** The largest sum of VmRSS over all browser processes seen by any sample. */
  peakTotalRss(): number;
  /** The peak (VmHWM) of every renderer seen, by pid; kept after the process is gone. */
  rendererPeaks(): Map<number, number>;
  stop(): void;
}

/**
 * Samples the browser's processes every `intervalMs`. Renderer peaks come from VmHWM, so they are exact whatever the
 * interval; the total over all processes is only as good as the sampling.
 */
export function startMemorySampler(intervalMs = 250): MemorySampler {
  let peakTotal = 0;
  const renderers = new Map<number, number>();
  const sample = () => {
    const processes = browserProcesses();
    peakTotal = Math.max(peakTotal, processes.reduce((sum, p) => sum + p.rss, 0));
    for (const p of processes) if (p.type === 'renderer') renderers.set(p.pid, Math.max(renderers.get(p.pid) ?? 0, p.peak_rss));
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    peakTotalRss: () => peakTotal,
    rendererPeaks: () => new Map(renderers),
    stop: () => {
      sample();
      clearInterval(timer);
    },
  };
}

/**
 * A script added to the page before any of its own (playwright `addInitScript`) that watches ONNX Runtime Web from
 * the outside, without touching the demo:
 * - every WebAssembly.Memory the page creates or instantiates. The threaded ORT build creates its heap in JS
 *   (`new WebAssembly.Memory({ shared: true, maximum: 65536 })`, 65536 pages of 64 KiB = wasm32's 4 GiB) and a heap
 *   only ever grows, so its size after a step is the step's peak;
 * - every Worker it starts (Emscripten's pthread pool: numThreads − 1 workers);
 * - optionally `navigator.hardwareConcurrency`: ORT picks `min(4, ceil(cores / 2))` threads when the app sets none, i.e.
 *   one thread on a 2-core machine; reporting 2·N cores makes it pick N.
 */
import type { Page } from 'playwright-core';

export interface WasmProbeState {
  cross_origin_isolated: boolean;
  hardware_concurrency: number;
  /** Every WebAssembly.Memory seen: current bytes, declared maximum pages, shared or not. */
  memories: { bytes: number; maximum_pages: number | null; shared: boolean }[];
  /** Workers started by the page: their name option (Emscripten's pthreads say 'em-pthread') or URL. */
  workers: string[];
}

/** Runs in the page (serialised by playwright): keep it self-contained. */
function installProbe(reportedCores: number | null): void {
  const w = window as any;
  const memories: { memory: WebAssembly.Memory; maximum: number | null; shared: boolean }[] = [];
  const seen = new Set<WebAssembly.Memory>();
  const record = (memory: WebAssembly.Memory, descriptor?: WebAssembly.MemoryDescriptor) => {
    if (seen.has(memory)) return;
    seen.add(memory);
    memories.push({ memory, maximum: descriptor?.maximum ?? null, shared: Boolean(descriptor?.shared ?? (memory.buffer instanceof SharedArrayBuffer)) });
  };
  const NativeMemory = WebAssembly.Memory;
  WebAssembly.Memory = new Proxy(NativeMemory, {
    construct(target, args, newTarget) {
      const memory = Reflect.construct(target, args, newTarget) as WebAssembly.Memory;
      record(memory, args[0]);
      return memory;
    },
  });
  // A build that exports its memory instead of importing it: pick it up from the instance.
  const exportedMemories = (instance: WebAssembly.Instance) => {
    for (const value of Object.values(instance.exports)) if (value instanceof NativeMemory) record(value);
  };
  for (const name of ['instantiate', 'instantiateStreaming'] as const) {
    const native = (WebAssembly as any)[name].bind(WebAssembly);
    (WebAssembly as any)[name] = async (...args: unknown[]) => {
      const result = await native(...args);
      exportedMemories(result instanceof WebAssembly.Instance ? result : result.instance);
      return result;
    };
  }
  const workers: string[] = [];
  const NativeWorker = w.Worker;
  w.Worker = new Proxy(NativeWorker, {
    construct(target, args, newTarget) {
      workers.push(String(args[1]?.name ?? args[0]));
      return Reflect.construct(target, args, newTarget);
    },
  });
  if (reportedCores !== null) {
    Object.defineProperty(Navigator.prototype, 'hardwareConcurrency', { get: () => reportedCores, configurable: true });
  }
  w.__wasmProbe = () => ({
    cross_origin_isolated: w.crossOriginIsolated === true,
    hardware_concurrency: navigator.hardwareConcurrency,
    memories: memories.map((m) => ({ bytes: m.memory.buffer.byteLength, maximum_pages: m.maximum, shared: m.shared })),
    workers: [...workers],
  });
}

/** Installs the probe; `threads` (when given) is the ORT thread count to obtain through hardwareConcurrency. */
export async function addWasmProbe(page: Page, threads: number | null): Promise<void> {
  await page.addInitScript(installProbe, threads === null ? null : 2 * threads);
}

export async function readWasmProbe(page: Page): Promise<WasmProbeState> {
  return page.evaluate(() => (window as any).__wasmProbe());
}

/** The ORT heap: the largest memory the page made (the others are small or empty placeholders). */
export function heapBytes(state: WasmProbeState): number {
  return Math.max(0, ...state.memories.map((m) => m.bytes));
}

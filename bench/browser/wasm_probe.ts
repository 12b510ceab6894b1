/**
 * A script that watches ONNX Runtime Web from the outside, without touching the app, in the page (playwright
 * `addInitScript`) and in a module worker that runs the model (`injectWorkerProbe` prepends it to the worker's
 * bundle, so it runs before the worker's own code):
 * - every WebAssembly.Memory the context creates or instantiates. The threaded ORT build creates its heap in JS
 *   (`new WebAssembly.Memory({ shared: true, maximum: 65536 })`, 65536 pages of 64 KiB = wasm32's 4 GiB) and a heap
 *   only ever grows, so its size after a step is the step's peak;
 * - every Worker it starts (Emscripten's pthread pool: numThreads − 1 workers named 'em-pthread');
 * - optionally `navigator.hardwareConcurrency`: ORT picks `min(4, ceil(cores / 2))` threads when the app sets none, i.e.
 *   one thread on a 2-core machine; reporting 2·N cores makes it pick N. An app that sets
 *   `env.backends.onnx.wasm.numThreads` itself (the demo does) is not affected by it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Page } from 'playwright-core';

export interface WasmProbeContext {
  /** 'page' or the worker script's URL. */
  url: string;
  cross_origin_isolated: boolean;
  hardware_concurrency: number;
  /** Every WebAssembly.Memory seen: current bytes, declared maximum pages, shared or not. */
  memories: { bytes: number; maximum_pages: number | null; shared: boolean }[];
  /** Workers started by this context: their name option (Emscripten's pthreads say 'em-pthread') or URL. */
  workers: string[];
}

export interface WasmProbeState {
  /** The page's. */
  cross_origin_isolated: boolean;
  hardware_concurrency: number;
  /** Every memory seen, the page's and its probed workers'. */
  memories: WasmProbeContext['memories'];
  /** Every worker started, by the page and by its probed workers. */
  workers: string[];
  /** The page first, then each probed worker. */
  contexts: WasmProbeContext[];
}

/** Runs in the page or in a worker (serialised): keep it self-contained. */
function installProbe(reportedCores: number | null): void {
  const scope = globalThis as any;
  if (scope.__wasmProbe) return;
  const memories: { memory: WebAssembly.Memory; maximum: number | null; shared: boolean }[] = [];
  const seen = new Set<WebAssembly.Memory>();
  const record = (memory: WebAssembly.Memory, descriptor?: WebAssembly.MemoryDescriptor) => {
    if (seen.has(memory)) return;
    seen.add(memory);
    const shared = Boolean(descriptor?.shared ?? (typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer));
    memories.push({ memory, maximum: descriptor?.maximum ?? null, shared });
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
  const NativeWorker = scope.Worker;
  if (NativeWorker) {
    scope.Worker = new Proxy(NativeWorker, {
      construct(target, args, newTarget) {
        workers.push(String(args[1]?.name ?? args[0]));
        return Reflect.construct(target, args, newTarget);
      },
    });
  }
  if (reportedCores !== null) {
    // Navigator in a page, WorkerNavigator in a worker.
    Object.defineProperty(Object.getPrototypeOf(navigator), 'hardwareConcurrency', { get: () => reportedCores, configurable: true });
  }
  scope.__wasmProbe = () => ({
    url: typeof scope.document === 'undefined' ? String(scope.location?.href) : 'page',
    cross_origin_isolated: scope.crossOriginIsolated === true,
    hardware_concurrency: navigator.hardwareConcurrency,
    memories: memories.map((m) => ({ bytes: m.memory.buffer.byteLength, maximum_pages: m.maximum, shared: m.shared })),
    workers: [...workers],
  });
}

/** Installs the probe in the page; `threads` (when given) is the ORT thread count to obtain through hardwareConcurrency. */
export async function addWasmProbe(page: Page, threads: number | null): Promise<void> {
  await page.addInitScript(installProbe, threads === null ? null : 2 * threads);
}

/** The probe as a statement to run first in a worker (no hardwareConcurrency change there). */
export function workerProbeSource(): string {
  return `(${installProbe.toString()})(null);\n`;
}

/**
 * Prepends the probe to a built module worker (e.g. the demo's dist/worker.js in a temporary copy). The bundle has no
 * static imports, so the probe runs before any of its code; ORT creates its heap much later, at the first session.
 */
export function injectWorkerProbe(workerFile: string): void {
  const source = readFileSync(workerFile, 'utf8');
  if (source.includes('__wasmProbe')) return;
  writeFileSync(workerFile, workerProbeSource() + source);
}

/** Resolves with `promise`, or with `fallback` after `ms` (an evaluate in a worker that never yields). */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([promise.catch(() => fallback), new Promise<T>((resolve) => setTimeout(() => resolve(fallback), ms).unref())]);
}

/**
 * The page's probe and every probed worker's. Emscripten's pthread workers (blob: or ort-wasm URLs) are skipped: they
 * sit in Atomics.wait, where an evaluate would never run.
 */
export async function readWasmProbe(page: Page): Promise<WasmProbeState> {
  const own: WasmProbeContext = await page.evaluate(() => (globalThis as any).__wasmProbe());
  const candidates = page.workers().filter((w) => !w.url().startsWith('blob:') && !w.url().includes('ort-wasm'));
  const found = await Promise.all(
    candidates.map((w) => within(w.evaluate(() => ((globalThis as any).__wasmProbe ? (globalThis as any).__wasmProbe() : null)) as Promise<WasmProbeContext | null>, 5000, null)),
  );
  const contexts = [own, ...found.filter((c): c is WasmProbeContext => c !== null)];
  return {
    cross_origin_isolated: own.cross_origin_isolated,
    hardware_concurrency: own.hardware_concurrency,
    memories: contexts.flatMap((c) => c.memories),
    workers: contexts.flatMap((c) => c.workers),
    contexts,
  };
}

/** The ORT heap: the largest memory seen (the others are small or empty placeholders). */
export function heapBytes(state: Pick<WasmProbeState, 'memories'>): number {
  return Math.max(0, ...state.memories.map((m) => m.bytes));
}

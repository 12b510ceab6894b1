/**
 * The module worker of `bench:browser --profile` (bundled by esbuild at bench time, like the demo's worker): loads the
 * model with the library's browser entry exactly as the demo's worker does (device 'wasm', the same thread count), but
 * with ONNX Runtime's `enableProfiling`, runs one inference and ends profiling. ONNX Runtime Web has no file system:
 * it prints the profile's JSON to stdout, i.e. console.log, line by line, which this worker collects.
 */
import { env, Tensor } from '@huggingface/transformers';
import { SegGPTForImageSegmentation } from '../../src/index.js';

export interface ProfileRequest {
  localModelPath: string;
  wasmPaths: string;
  numThreads: number;
  model: string;
  dtype: string;
  inputs: Record<'pixel_values' | 'prompt_pixel_values' | 'prompt_masks', { dims: number[]; data: string }>;
  kwargs: { embedding_type: 'semantic' | 'instance' | null; feature_ensemble: boolean | null };
}

export type ProfileAnswer = { ok: true; load_seconds: number; run_seconds: number; num_threads: number; trace: string } | { ok: false; error: string };

const printed: string[] = [];
const nativeLog = console.log.bind(console);
// Installed before ONNX Runtime's module binds console.log (at its first session).
console.log = (...args: unknown[]) => {
  printed.push(args.map(String).join(' '));
  if (printed.length > 200_000) printed.splice(0, 100_000);
  void nativeLog;
};

function decode(base64: string): Float32Array {
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
}

/** The JSON array among the printed lines: from a line '[' to the next ']'. */
function traceText(lines: string[]): string {
  const start = lines.findIndex((l) => l.trim() === '[');
  if (start < 0) throw new Error(`no profile among ${lines.length} console lines`);
  const end = lines.findIndex((l, i) => i > start && l.trim() === ']');
  if (end < 0) throw new Error('the profile never ended');
  return lines.slice(start, end + 1).join('\n');
}

async function profile(request: ProfileRequest): Promise<ProfileAnswer> {
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  env.localModelPath = request.localModelPath;
  env.backends.onnx.wasm!.wasmPaths = request.wasmPaths;
  env.backends.onnx.wasm!.numThreads = request.numThreads;
  let started = performance.now();
  const model = await SegGPTForImageSegmentation.from_pretrained(request.model, {
    device: 'wasm',
    dtype: request.dtype as never,
    session_options: { enableProfiling: true },
  });
  const load_seconds = (performance.now() - started) / 1000;
  const tensor = (t: { dims: number[]; data: string }) => new Tensor('float32', decode(t.data), t.dims);
  const a = request.inputs;
  started = performance.now();
  await model({ pixel_values: tensor(a.pixel_values), prompt_pixel_values: tensor(a.prompt_pixel_values), prompt_masks: tensor(a.prompt_masks) }, request.kwargs);
  const run_seconds = (performance.now() - started) / 1000;
  printed.length = 0;
  const session = (model as unknown as { sessions: Record<string, { endProfiling(): unknown }> }).sessions.model;
  await session.endProfiling();
  const trace = traceText(printed);
  await model.dispose();
  return { ok: true, load_seconds, run_seconds, num_threads: env.backends.onnx.wasm!.numThreads ?? 0, trace };
}

self.onmessage = (event: MessageEvent<ProfileRequest>) => {
  profile(event.data).then(
    (answer) => self.postMessage(answer),
    (error: unknown) => self.postMessage({ ok: false, error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) } satisfies ProfileAnswer),
  );
};

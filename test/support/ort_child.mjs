// Runs one onnxruntime-node session in its own process: `node ort_child.mjs <job.json>`.
// onnxruntime-node's InferenceSession.create/run block the calling thread; a ViT-L run takes minutes on
// 2 cores, which would starve the vitest worker's RPC. Plain JavaScript so it runs without a build step.
//
// job.json: { model, session_options, runs: [{ name, inputs: { <input>: { type, dims, file } } }], output_dir }
// stdout, last line: RESULT {"create_seconds", "runs": [{ name, seconds, outputs: { <output>: { type, dims, file } } }], "peak_rss_bytes"}
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const ARRAYS = { float32: Float32Array, int64: BigInt64Array, bool: Uint8Array, int32: Int32Array, uint8: Uint8Array };

function load(spec) {
  const Array = ARRAYS[spec.type];
  if (!Array) throw new Error(`ort_child: input type ${spec.type} is not supported`);
  const bytes = readFileSync(spec.file);
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  return new ort.Tensor(spec.type, new Array(copy), spec.dims);
}

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
let started = performance.now();
const session = await ort.InferenceSession.create(job.model, job.session_options ?? {});
const create_seconds = (performance.now() - started) / 1000;
const runs = [];
for (const run of job.runs) {
  const feeds = Object.fromEntries(Object.entries(run.inputs).map(([name, spec]) => [name, load(spec)]));
  started = performance.now();
  const out = await session.run(feeds);
  const seconds = (performance.now() - started) / 1000;
  const outputs = {};
  for (const [name, tensor] of Object.entries(out)) {
    const file = join(job.output_dir, `${run.name}.${name}.bin`);
    const data = tensor.data;
    writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    outputs[name] = { type: tensor.type, dims: tensor.dims, file };
    tensor.dispose();
  }
  runs.push({ name: run.name, seconds, outputs });
}
await session.release();
process.stdout.write(`RESULT ${JSON.stringify({ create_seconds, runs, peak_rss_bytes: process.resourceUsage().maxRSS * 1024 })}\n`);

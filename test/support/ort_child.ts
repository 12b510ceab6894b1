import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InferenceSession, Tensor } from 'onnxruntime-node';

const CHILD = fileURLToPath(new URL('./ort_child.mjs', import.meta.url));

export interface ChildOutput {
  type: string;
  dims: number[];
  data: Float32Array | BigInt64Array | Int32Array | Uint8Array;
}

export interface ChildRunResult {
  create_seconds: number;
  peak_rss_bytes: number;
  runs: { name: string; seconds: number; outputs: Record<string, ChildOutput> }[];
}

const ARRAYS = { float32: Float32Array, int64: BigInt64Array, int32: Int32Array, bool: Uint8Array, uint8: Uint8Array } as const;

/**
 * Creates one onnxruntime-node session in a child process and runs each feed set through it, in order.
 * Large models belong here: onnxruntime-node's create/run block their thread for minutes, which would stall
 * the vitest worker (its RPC times out after a minute), and the child's memory is returned when it exits.
 */
export async function runOnnxInChild(
  model: string,
  sessionOptions: InferenceSession.SessionOptions,
  runs: { name: string; feeds: Record<string, Tensor> }[],
): Promise<ChildRunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'seggpt-ort-child-'));
  try {
    const jobRuns = runs.map((run) => ({
      name: run.name,
      inputs: Object.fromEntries(
        Object.entries(run.feeds).map(([input, tensor]) => {
          const file = join(dir, `${run.name}.${input}.in`);
          const data = tensor.data as ArrayBufferView;
          writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
          return [input, { type: tensor.type, dims: tensor.dims, file }];
        }),
      ),
    }));
    const jobFile = join(dir, 'job.json');
    writeFileSync(jobFile, JSON.stringify({ model, session_options: sessionOptions, runs: jobRuns, output_dir: dir }));
    const stdout = await spawnChild(jobFile);
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    if (!line) throw new Error(`ort_child.mjs printed no result:\n${stdout}`);
    const result = JSON.parse(line.slice('RESULT '.length)) as {
      create_seconds: number;
      peak_rss_bytes: number;
      runs: { name: string; seconds: number; outputs: Record<string, { type: keyof typeof ARRAYS; dims: number[]; file: string }> }[];
    };
    return {
      ...result,
      runs: result.runs.map((run) => ({
        ...run,
        outputs: Object.fromEntries(
          Object.entries(run.outputs).map(([name, spec]) => {
            const bytes = readFileSync(spec.file);
            const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
            return [name, { type: spec.type, dims: spec.dims, data: new ARRAYS[spec.type](buffer) }];
          }),
        ),
      })),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function spawnChild(jobFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, jobFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`ort_child.mjs ${signal ? `was killed (${signal})` : `exited with ${code}`}:\n${stderr.slice(-4000)}`));
    });
  });
}

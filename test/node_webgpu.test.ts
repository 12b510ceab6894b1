/**
 * device: 'webgpu' in Node: onnxruntime-node's bundled WebGPU provider (Dawn on Vulkan) through the model classes,
 * against onnxruntime-node's CPU provider on the same converted model. Without a GPU it runs on SwiftShader, Chromium's
 * Vulkan-on-CPU driver (apt: chromium libvulkan1).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { SegGPTForImageSegmentation } from '../src/index.node.js';
import { tinyCaseInputs, tinyCaseKwargs } from './support/backend_cases.js';
import { TINY, tinyCases, type TinyCase } from './support/fixtures.js';
import { absDiff } from '../dev/npy.js';
import { useSwiftShaderVulkan } from './support/swiftshader.js';

// Before any WebGPU session of this process: Dawn reads the Vulkan driver list once.
useSwiftShaderVulkan();

// fp32: GPU kernels may use other summation orders and approximate exp/erf on real hardware; SwiftShader stays near
// 1e-5 (the CPU's own distance to the reference), 1e-3 is the portable bound.
const FP32_TOLERANCE = 1e-3;
// q4: MatMulNBits dequantises the 4-bit weights and multiplies in float32 on both providers (no activation
// quantisation, so no rounding-boundary jumps as with q8): the same fp32 bound against the CPU's q4 result. Against
// CPU fp32 the distance is the 4-bit weight error itself (up to ~2 on this random-weight model), which WebGPU must
// reproduce, not add to.
const Q4_TOLERANCE = 1e-3;
const Q4_ERROR_RATIO = 1.05;

// A WebGPU run on SwiftShader takes seconds (it emulates workgroup barriers on the CPU), so a representative subset:
// batch 1 semantic, batch 1 instance, and the two-prompt feature ensemble (batch 2).
const FP32_CASES = ['01_single_binary_semantic', '03_instance_embedding', '04_two_prompts_feature_ensemble'];
const Q4_CASES = ['01_single_binary_semantic'];

const cases = tinyCases();
const pick = (names: string[]): TinyCase[] => names.map((name) => cases.find((c) => c.name === name)!);

let work: string;
let modelDir: string;

async function run(device: 'cpu' | 'webgpu', dtype: 'fp32' | 'q4', chosen: TinyCase[], profilePrefix?: string) {
  const session_options = profilePrefix ? { enableProfiling: true, profileFilePrefix: profilePrefix } : undefined;
  const model = await SegGPTForImageSegmentation.from_pretrained(modelDir, { device, dtype, session_options });
  const outputs = new Map<string, Float32Array>();
  for (const c of chosen) {
    const { pred_masks } = await model(tinyCaseInputs(c), tinyCaseKwargs(c));
    outputs.set(c.name, pred_masks.data as Float32Array);
  }
  if (profilePrefix) await (model.sessions.model as unknown as { endProfiling(): Promise<void> | void }).endProfiling();
  await model.dispose();
  return outputs;
}

/** Execution providers that ran the graph's compute nodes, from an onnxruntime profile. */
function providersOf(prefix: string): Map<string, number> {
  // onnxruntime writes `<prefix>_<date>.json`.
  const file = readdirSync(work).find((name) => name.startsWith(`${basename(prefix)}_`) && name.endsWith('.json'));
  if (!file) throw new Error(`no onnxruntime profile ${prefix}_*.json`);
  const events = JSON.parse(readFileSync(join(work, file), 'utf8')) as { cat: string; args?: { op_name?: string; provider?: string } }[];
  const counts = new Map<string, number>();
  for (const event of events) {
    if (event.cat !== 'Node' || !event.args?.provider) continue;
    // Shape bookkeeping may legitimately stay on the CPU; the arithmetic must not.
    if (!['MatMul', 'MatMulNBits', 'MultiHeadAttention', 'Softmax', 'LayerNormalization', 'Conv', 'Gelu', 'BiasGelu'].includes(event.args.op_name ?? '')) continue;
    counts.set(event.args.provider, (counts.get(event.args.provider) ?? 0) + 1);
  }
  return counts;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-node-webgpu-'));
  modelDir = join(work, 'seggpt-tiny');
  await convertCheckpoint({ checkpoint: TINY, output: modelDir, dtypes: 'fp32,q4' });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("device: 'webgpu' in Node (onnxruntime-node WebGPU provider)", () => {
  test('fp32 matches CPU fp32, and the arithmetic runs on the WebGPU provider', async () => {
    const chosen = pick(FP32_CASES);
    const cpu = await run('cpu', 'fp32', chosen);
    const prefix = join(work, 'fp32-profile');
    const gpu = await run('webgpu', 'fp32', chosen, prefix);
    for (const c of chosen) {
      expect(absDiff(gpu.get(c.name)!, cpu.get(c.name)!).max, c.name).toBeLessThan(FP32_TOLERANCE);
    }
    const providers = providersOf(prefix);
    expect([...providers.keys()]).toEqual(['WebGpuExecutionProvider']);
  });

  test('q4 matches CPU q4 and carries the same 4-bit error against CPU fp32', async () => {
    const chosen = pick(Q4_CASES);
    const cpuFp32 = await run('cpu', 'fp32', chosen);
    const cpuQ4 = await run('cpu', 'q4', chosen);
    const prefix = join(work, 'q4-profile');
    const gpuQ4 = await run('webgpu', 'q4', chosen, prefix);
    for (const c of chosen) {
      const gpu = gpuQ4.get(c.name)!;
      expect(absDiff(gpu, cpuQ4.get(c.name)!).max, c.name).toBeLessThan(Q4_TOLERANCE);
      const gpuError = absDiff(gpu, cpuFp32.get(c.name)!);
      const cpuError = absDiff(cpuQ4.get(c.name)!, cpuFp32.get(c.name)!);
      expect(gpuError.mean, c.name).toBeLessThanOrEqual(cpuError.mean * Q4_ERROR_RATIO);
      expect(gpuError.max, c.name).toBeLessThanOrEqual(cpuError.max * Q4_ERROR_RATIO);
    }
    const providers = providersOf(prefix);
    expect(providers.get('WebGpuExecutionProvider')).toBeGreaterThan(0);
    expect([...providers.keys()]).toEqual(['WebGpuExecutionProvider']);
  });
});

/**
 * device: 'cuda' in Node. onnxruntime-node's npm package ships no CUDA provider libraries (its install script downloads
 * them, and this repository's .npmrc skips that), so here the request must reach onnxruntime's CUDA provider and come
 * back as a BackendError that names the fix.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { BackendError, SegGPTForImageSegmentation } from '../src/index.node.js';
import { explainBackendError } from '../src/utils/backend_errors.js';
import { TINY } from './support/fixtures.js';

const ORT_BIN = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin', 'napi-v6', process.platform, process.arch);
const CUDA_PROVIDER = join(ORT_BIN, `libonnxruntime_providers_cuda.${process.platform === 'win32' ? 'dll' : 'so'}`);

let work: string;
let modelDir: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-node-cuda-'));
  modelDir = join(work, 'seggpt-tiny');
  await convertCheckpoint({ checkpoint: TINY, output: modelDir, dtypes: 'fp32' });
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function expectInstallFix(message: string): void {
  expect(message).toMatch(/device 'cuda'/);
  expect(message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node');
  expect(message).toMatch(/README/);
  expect(message).toMatch(/device: 'cpu'/);
}

describe("device: 'cuda' without onnxruntime-node's CUDA provider", () => {
  test('precondition: this install has no CUDA provider library (the repository .npmrc skips its download)', () => {
    expect(ort.listSupportedBackends()).toContainEqual({ name: 'cuda', bundled: false });
    expect(existsSync(CUDA_PROVIDER), `${CUDA_PROVIDER} exists: this test describes an install without it`).toBe(false);
  });

  test('from_pretrained reaches the CUDA provider and throws a BackendError with the fix', async () => {
    const error = await SegGPTForImageSegmentation.from_pretrained(modelDir, { device: 'cuda', dtype: 'fp32' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BackendError);
    // The original onnxruntime error is kept as the cause: the CUDA provider really was asked for.
    expect(((error as BackendError).cause as Error).message).toMatch(/Cuda|CUDA/);
    expectInstallFix((error as BackendError).message);
  });

  test('explainBackendError recognises onnxruntime-node’s own failure', async () => {
    const raw = await ort.InferenceSession.create(join(modelDir, 'onnx', 'model.onnx'), { executionProviders: ['cuda'] }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(raw).toBeInstanceOf(Error);
    const explained = explainBackendError(raw, { device: 'cuda', dtype: 'fp32', model: modelDir });
    expect(explained).toBeInstanceOf(BackendError);
    expect(explained!.cause).toBe(raw);
    expectInstallFix(explained!.message);
  });
});

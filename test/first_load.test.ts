/**
 * Hugging Face SegGPT checkpoints (safetensors, no ONNX) loaded by hub id in Node, as BAAI/seggpt-vit-large is: the
 * requested variant is converted on first use and cached by Transformers.js. The hub is a loopback server that answers
 * only `resolve` URLs (GET with Range, HEAD, 302 to a second origin, 404) and logs every request.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AutoModel, AutoModelForImageSegmentation, AutoProcessor, env, pipeline as transformersPipeline, type Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import {
  CheckpointError,
  HubError,
  pipeline,
  SegGPTConfigError,
  SegGPTForImageSegmentation,
  SegGPTImageProcessor,
  SegGPTModel,
  setDefaultSegGPTModel,
  SEGGPT_DEFAULT_MODEL,
  type SegGPTProcessor,
} from '../src/index.node.js';
import { absDiff, readNpy } from '../dev/npy.js';
import { TINY, tinyCases, type TinyCase } from './support/fixtures.js';
import { startHubServer, type HubFileSource, type HubServer } from '../dev/hub_server.js';
import { expectReferenceInputs, expectReferenceMaps, expectReferencePredMasks, replayCase } from './support/replay.js';
import { readAllF32, writeBF16Tensors, writeF32Tensors } from './support/safetensors.js';
import { VARIANT_MEAN_ABS_BOUND } from './support/tolerances.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CHILD = join(ROOT, 'test', 'support', 'first_load_child.mjs');
const PACKAGE = join(ROOT, 'dist', 'src', 'index.node.js');
const REPO = 'BAAI/seggpt-vit-large';
const CONVERTED_REVISION = 'main~seggpt-onnx-v1';
const CASE = tinyCases()[0];

const rawFiles = (dir: string): Record<string, HubFileSource> =>
  Object.fromEntries(['config.json', 'preprocessor_config.json', 'model.safetensors'].map((f) => [f, join(dir, f)]));

let work: string;
let hub: HubServer;
const saved = { remoteHost: env.remoteHost, cacheDir: env.cacheDir, fetch: env.fetch };
let sharded: string;

/** The tiny checkpoint split into two shards and an index, as save_pretrained(max_shard_size=…) writes it. */
function shardTiny(folder: string): Record<string, HubFileSource> {
  const plain = readAllF32(join(TINY, 'model.safetensors'));
  const names = [...plain.keys()];
  const shardNames = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
  const weightMap: Record<string, string> = {};
  [names.slice(0, names.length / 2), names.slice(names.length / 2)].forEach((group, k) => {
    writeF32Tensors(join(folder, shardNames[k]), Object.fromEntries(group.map((n) => [n, { shape: plain.get(n)!.shape, values: Float32Array.from(plain.get(n)!.values) }])));
    for (const n of group) weightMap[n] = shardNames[k];
  });
  const index = new TextEncoder().encode(JSON.stringify({ metadata: {}, weight_map: weightMap }));
  return {
    'config.json': join(TINY, 'config.json'),
    'preprocessor_config.json': join(TINY, 'preprocessor_config.json'),
    'model.safetensors.index.json': index,
    ...Object.fromEntries(shardNames.map((n) => [n, join(folder, n)])),
  };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-first-load-'));
  sharded = join(work, 'sharded');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(sharded);
  const notSegGPT = new TextEncoder().encode(JSON.stringify({ model_type: 'segformer', architectures: ['SegformerForSemanticSegmentation'] }));
  hub = await startHubServer({
    resolveOnly: true,
    separateCdn: true,
    token: 'hf_firstLoadToken0000000',
    repos: {
      [REPO]: { files: rawFiles(TINY) },
      'someone/sharded-seggpt': { files: shardTiny(sharded) },
      'someone/private-seggpt': { private: true, files: rawFiles(TINY) },
      'someone/pickle-seggpt': { files: { 'config.json': join(TINY, 'config.json'), 'preprocessor_config.json': join(TINY, 'preprocessor_config.json'), 'pytorch_model.bin': new Uint8Array(16) } },
      'someone/segformer': { files: { 'config.json': notSegGPT } },
    },
  });
  env.remoteHost = `${hub.url}/`;
  env.cacheDir = join(work, 'cache');
});

afterAll(async () => {
  Object.assign(env, saved);
  await hub?.close().catch(() => undefined); // the offline test stops it
  rmSync(work, { recursive: true, force: true });
});

const requestsOf = (from: number) => hub.received.requests.slice(from);
const weightRequests = (from: number) => requestsOf(from).filter((r) => /safetensors|_cdn/.test(r.url));
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const cachedFile = (file: string, revision = CONVERTED_REVISION, repo = REPO, cacheDir = env.cacheDir!) => join(cacheDir, repo, revision, file);

interface ChildResult {
  events: any[];
  result?: { segments: number; width: number; height: number; mask: string | null };
  error?: { name: string; message: string };
  code: number | null;
}

function runChild(args: Record<string, unknown>, onLine?: (line: any, kill: () => void) => void): Promise<ChildResult> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CHILD, JSON.stringify({ package: PACKAGE, remoteHost: env.remoteHost, cacheDir: env.cacheDir, caseDir: CASE.dir, ...args })], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: ChildResult = { events: [], code: null };
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = JSON.parse(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        if (line.event) out.events.push(line.event);
        if (line.result) out.result = line.result;
        if (line.error) out.error = line.error;
        onLine?.(line, () => child.kill('SIGKILL'));
      }
    });
    child.on('error', fail);
    child.on('close', (code) => {
      out.code = code;
      done(out);
    });
  });
}

/** Pixels where a result mask and the case's reference map (binarised at 128) disagree. */
function differingPixels(maskBase64: string, c: TinyCase = CASE): number {
  const got = Buffer.from(maskBase64, 'base64');
  const reference = readNpy(join(c.dir, 'segmentation_0.npy')).data as BigInt64Array;
  let differ = 0;
  for (let i = 0; i < got.length; i++) if ((got[i] >= 128) !== (reference[i] >= 128n)) differ++;
  return differ;
}

describe(`a safetensors checkpoint by hub id (${REPO} served from seggpt-tiny)`, () => {
  let processor: SegGPTProcessor;
  let firstLoad: number;

  beforeAll(async () => {
    firstLoad = hub.received.requests.length;
    processor = (await AutoProcessor.from_pretrained(REPO)) as unknown as SegGPTProcessor;
  });

  test('every fixture case through AutoProcessor and AutoModel by id (fp32) equals the reference', async () => {
    const model = await AutoModel.from_pretrained(REPO);
    expect(model).toBeInstanceOf(SegGPTForImageSegmentation);
    for (const c of tinyCases()) {
      const { inputs, outputs } = await replayCase(c, processor, model);
      expectReferenceInputs(c, inputs);
      expectReferencePredMasks(c, outputs);
      expectReferenceMaps(c, processor, outputs);
    }
    await model.dispose();
  });

  test('only resolve URLs were fetched: Range reads of the weights through a 302 to a second origin, nothing from /api', () => {
    const requests = requestsOf(firstLoad);
    expect(requests.filter((r) => r.url.startsWith('/api'))).toEqual([]);
    for (const r of requests.filter((r) => r.origin === 'hub')) expect(r.url).toMatch(new RegExp(`^/${REPO}/resolve/main/`));
    const weights = requests.filter((r) => r.origin === 'cdn');
    expect(weights.length).toBeGreaterThan(0);
    for (const r of weights) {
      expect(r.range).toMatch(/^bytes=\d+-\d+$/);
      expect(r.status).toBe(206);
    }
    expect(requests.some((r) => r.url === `/${REPO}/resolve/main/model.safetensors` && r.status === 302)).toBe(true);
    // The converted files never leave the process: nothing was asked for under the converted revision.
    expect(requests.filter((r) => r.url.includes('seggpt-onnx'))).toEqual([]);
  });

  test('the cached conversion is byte for byte what seggpt convert writes', async () => {
    const reference = join(work, 'convert-fp32');
    await convertCheckpoint({ checkpoint: TINY, output: reference, dtypes: 'fp32' });
    expect(sha256(cachedFile('onnx/model.onnx'))).toBe(sha256(join(reference, 'onnx', 'model.onnx')));
  });

  test('q8 by id: converted on its first use, within its tolerance of fp32, the same bytes as seggpt convert', async () => {
    const before = hub.received.requests.length;
    const [fp32, q8] = await Promise.all([SegGPTForImageSegmentation.from_pretrained(REPO), SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'q8' })]);
    expect(weightRequests(before).length).toBeGreaterThan(0); // q8 was not cached: its conversion read the weights
    for (const c of tinyCases()) {
      const [a, b] = await Promise.all([replayCase(c, processor, fp32), replayCase(c, processor, q8)]);
      const d = absDiff(b.outputs.pred_masks.data as Float32Array, a.outputs.pred_masks.data as Float32Array);
      expect(d.mean, c.name).toBeLessThan(VARIANT_MEAN_ABS_BOUND.q8);
      expect(d.mean, `${c.name}: q8 computed exactly fp32`).toBeGreaterThan(0);
    }
    await Promise.all([fp32.dispose(), q8.dispose()]);
    const reference = join(work, 'convert-q8');
    await convertCheckpoint({ checkpoint: TINY, output: reference, dtypes: 'q8' });
    expect(sha256(cachedFile('onnx/model_quantized.onnx'))).toBe(sha256(join(reference, 'onnx', 'model_quantized.onnx')));
  });

  test('pipeline() by id and by the alias seggpt (BAAI/seggpt-vit-large) segment like the reference', async () => {
    expect(SEGGPT_DEFAULT_MODEL).toBe(REPO);
    for (const id of [REPO, 'seggpt']) {
      const segmenter = await pipeline('image-segmentation', id);
      const { RawImage } = await import('@huggingface/transformers');
      const [image, prompt, mask] = await Promise.all(['image_0.png', 'prompt_image_0.png', 'prompt_mask_0.png'].map((f) => RawImage.read(join(CASE.dir, f))));
      const segments = await segmenter(image, { prompt_images: prompt, prompt_masks: mask, embedding_type: 'semantic' });
      expect(differingPixels(Buffer.from(segments[0].mask.data).toString('base64')), id).toBeLessThanOrEqual(2);
      await segmenter.dispose();
    }
  });

  test('Transformers.js\'s own pipeline() loads it too (its aggregated progress included)', async () => {
    const events: any[] = [];
    const segmenter = await transformersPipeline('image-segmentation', REPO, { dtype: 'int8', progress_callback: (e: unknown) => events.push(e) });
    const { RawImage } = await import('@huggingface/transformers');
    const [image, prompt, mask] = await Promise.all(['image_0.png', 'prompt_image_0.png', 'prompt_mask_0.png'].map((f) => RawImage.read(join(CASE.dir, f))));
    const segments = await (segmenter as any)(image, { prompt_images: prompt, prompt_masks: mask, embedding_type: 'semantic' });
    expect(segments.length).toBeGreaterThan(0);
    await segmenter.dispose();
    expect(events.some((e) => e.status === 'progress_total')).toBe(true);
    expect(events.some((e) => e.status === 'progress' && e.file === 'onnx/model_int8.onnx')).toBe(true);
  });

  test('the library\'s own Auto classes and SegGPTModel load the same checkpoint', async () => {
    const segmentation = await AutoModelForImageSegmentation.from_pretrained(REPO);
    expect(segmentation).toBeInstanceOf(SegGPTForImageSegmentation);
    const encoder = await SegGPTModel.from_pretrained(REPO);
    const { outputs } = await replayCase(CASE, processor, encoder);
    expect((outputs.last_hidden_state as Tensor).dims.length).toBe(4);
    await Promise.all([segmentation.dispose(), encoder.dispose()]);
    expect(await SegGPTImageProcessor.from_pretrained(REPO)).toBeInstanceOf(SegGPTImageProcessor);
  });

  test('a second load in a fresh process requests no weights and converts nothing', async () => {
    const before = hub.received.requests.length;
    const mtime = statSync(cachedFile('onnx/model.onnx')).mtimeMs;
    const child = await runChild({ id: REPO });
    expect(child.error).toBeUndefined();
    expect(differingPixels(child.result!.mask!)).toBeLessThanOrEqual(2);
    expect(requestsOf(before).map((r) => `${r.method} ${r.url}`)).toEqual([]);
    expect(statSync(cachedFile('onnx/model.onnx')).mtimeMs).toBe(mtime);
  });

  test('sharded checkpoints convert too (model.safetensors.index.json and its shards)', async () => {
    const before = hub.received.requests.length;
    const model = await SegGPTForImageSegmentation.from_pretrained('someone/sharded-seggpt');
    for (const c of tinyCases().slice(0, 3)) expectReferencePredMasks(c, (await replayCase(c, processor, model)).outputs);
    await model.dispose();
    const fetched = requestsOf(before).map((r) => r.url);
    for (const f of ['model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']) {
      expect(fetched.some((u) => u.endsWith(f))).toBe(true);
    }
  });

  test('any checkpoint the converter accepts: BF16, extra tensors, unaligned header, another tensor order — as seggpt convert makes it', async () => {
    const folder = join(work, 'bf16');
    const { mkdirSync, copyFileSync } = await import('node:fs');
    mkdirSync(folder, { recursive: true });
    for (const f of ['config.json', 'preprocessor_config.json']) copyFileSync(join(TINY, f), join(folder, f));
    const plain = readAllF32(join(TINY, 'model.safetensors'));
    const reversed = Object.fromEntries([...plain.entries()].reverse());
    writeBF16Tensors(join(folder, 'model.safetensors'), { 'model.pooler.dense.weight': { shape: [2, 2], values: [1, 2, 3, 4] }, ...reversed });
    await hub.setFiles('someone/bf16-seggpt', 'main', rawFiles(folder));
    const model = await SegGPTForImageSegmentation.from_pretrained('someone/bf16-seggpt');
    await model.dispose();
    const reference = join(work, 'convert-bf16');
    await convertCheckpoint({ checkpoint: folder, output: reference, dtypes: 'fp32' });
    expect(sha256(cachedFile('onnx/model.onnx', CONVERTED_REVISION, 'someone/bf16-seggpt'))).toBe(sha256(join(reference, 'onnx', 'model.onnx')));
  });

  test('progress events cover the checkpoint read and the conversion', async () => {
    const events: any[] = [];
    const model = await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'q4', progress_callback: (e: unknown) => events.push(e) });
    await model.dispose();
    const progressOf = (file: string) => events.filter((e) => e.status === 'progress' && e.file === file);
    const read = progressOf('model.safetensors');
    expect(read.length).toBeGreaterThan(0);
    expect(read.at(-1).loaded).toBe(read.at(-1).total);
    const converted = progressOf('onnx/model_q4.onnx');
    expect(converted.length).toBeGreaterThan(1);
    expect(converted.at(-1).loaded).toBe(converted.at(-1).total);
    for (const status of ['initiate', 'download', 'done']) {
      expect(events.some((e) => e.status === status && e.file === 'model.safetensors'), status).toBe(true);
      expect(events.some((e) => e.status === status && e.file === 'onnx/model_q4.onnx'), status).toBe(true);
    }
  });

  test('cache_dir, env.allowLocalModels = false and env.allowRemoteModels = false behave as for any model', async () => {
    const cache_dir = join(work, 'own-cache');
    await (await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'int8', cache_dir })).dispose();
    expect(existsSync(cachedFile('onnx/model_int8.onnx', CONVERTED_REVISION, REPO, cache_dir))).toBe(true);
    const saved = { allowLocalModels: env.allowLocalModels, allowRemoteModels: env.allowRemoteModels };
    try {
      env.allowLocalModels = false;
      await (await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'int8' })).dispose();
      env.allowLocalModels = true;
      env.allowRemoteModels = false;
      // Cached: loads. Not cached: nothing may be downloaded, and the error says so.
      await (await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'int8', cache_dir })).dispose();
      const refused = await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'q4f16' }).catch((e) => e);
      expect(refused).toBeInstanceOf(CheckpointError);
      expect(refused.message).toMatch(/allowRemoteModels/);
    } finally {
      Object.assign(env, saved);
    }
  });

  test('concurrent first loads of one variant convert it once', async () => {
    const before = hub.received.requests.length;
    const models = await Promise.all([1, 2, 3].map(() => SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'uint8' })));
    const reads = weightRequests(before).filter((r) => r.url.endsWith('model.safetensors'));
    expect(reads.length).toBe(1);
    await Promise.all(models.map((m) => m.dispose()));
  });

  test('a new revision of the checkpoint is converted again, from that revision', async () => {
    const commit = await hub.setFiles(REPO, 'v2', rawFiles(TINY));
    const before = hub.received.requests.length;
    const model = await SegGPTForImageSegmentation.from_pretrained(REPO, { revision: 'v2' });
    expect(requestsOf(before).some((r) => r.url === `/${REPO}/resolve/v2/model.safetensors`)).toBe(true);
    expect(existsSync(cachedFile('onnx/model.onnx', 'v2~seggpt-onnx-v1'))).toBe(true);
    await model.dispose();
    // A pinned commit is a revision of its own.
    const byCommit = await SegGPTForImageSegmentation.from_pretrained(REPO, { revision: commit });
    expect(existsSync(cachedFile('onnx/model.onnx', `${commit}~seggpt-onnx-v1`))).toBe(true);
    await byCommit.dispose();
  });

  test('signal: an abort during the conversion rejects with AbortError and caches nothing; a live signal changes nothing', async () => {
    const cacheDir = join(work, 'abort-cache');
    env.cacheDir = cacheDir;
    hub.setThrottle({ bytesPerSecond: 2_000_000, chunkBytes: 16 * 1024 });
    try {
      const already = await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'fp16', signal: AbortSignal.abort() }).catch((e) => e);
      expect(already.name).toBe('AbortError');
      const controller = new AbortController();
      const aborted = await SegGPTForImageSegmentation.from_pretrained(REPO, {
        dtype: 'fp16',
        signal: controller.signal,
        progress_callback: (e: any) => {
          if (e.status === 'progress' && e.file === 'onnx/model_fp16.onnx' && e.loaded > 0) controller.abort();
        },
      }).catch((e) => e);
      expect(aborted.name).toBe('AbortError');
      expect(controller.signal.aborted).toBe(true);
      const onnx = cachedFile('onnx/model_fp16.onnx', CONVERTED_REVISION, REPO, cacheDir);
      expect(existsSync(onnx)).toBe(false);
      expect(existsSync(dirname(onnx)) ? readdirSync(dirname(onnx)) : []).toEqual([]);
      hub.setThrottle(undefined);
      const live = await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'fp16', signal: new AbortController().signal });
      await live.dispose();
      expect(existsSync(cachedFile('onnx/model_fp16.onnx', CONVERTED_REVISION, REPO, cacheDir))).toBe(true);
    } finally {
      hub.setThrottle(undefined);
      env.cacheDir = join(work, 'cache');
    }
  });

  test('a first load killed mid-conversion leaves nothing a later load uses', async () => {
    const cacheDir = join(work, 'kill-cache');
    hub.setThrottle({ bytesPerSecond: 1_000_000, chunkBytes: 16 * 1024 });
    let killedDuring: string | undefined;
    try {
      const killed = await runChild({ id: REPO, cacheDir, progress: true }, (line, kill) => {
        if (line.event?.status === 'progress' && line.event.file === 'onnx/model.onnx' && line.event.loaded < line.event.total && !killedDuring) {
          killedDuring = `${line.event.loaded}/${line.event.total}`;
          kill();
        }
      });
      expect(killedDuring, 'the child was killed while writing the converted file').toBeDefined();
      expect(killed.result).toBeUndefined();
    } finally {
      hub.setThrottle(undefined);
    }
    expect(existsSync(cachedFile('onnx/model.onnx', CONVERTED_REVISION, REPO, cacheDir))).toBe(false);
    const again = await runChild({ id: REPO, cacheDir });
    expect(again.error).toBeUndefined();
    // The killed load's unfinished download (Transformers.js's `<file>.tmp.<pid>.<random>`) was removed by this one.
    expect(readdirSync(dirname(cachedFile('onnx/model.onnx', CONVERTED_REVISION, REPO, cacheDir))).filter((f) => f.includes('.tmp.'))).toEqual([]);
    expect(differingPixels(again.result!.mask!)).toBeLessThanOrEqual(2);
    expect(sha256(cachedFile('onnx/model.onnx', CONVERTED_REVISION, REPO, cacheDir))).toBe(sha256(cachedFile('onnx/model.onnx')));
  });
});

describe('errors that name the fix', () => {
  test('a private or gated repo: refused access, with what to do', async () => {
    const error = await SegGPTForImageSegmentation.from_pretrained('someone/private-seggpt').catch((e) => e);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toMatch(/someone\/private-seggpt/);
    expect(error.message).toMatch(/127\.0\.0\.1/);
    expect(error.message).toMatch(/HF_TOKEN/);
  });

  test('a repo that does not exist', async () => {
    const error = await SegGPTForImageSegmentation.from_pretrained('someone/nothing-here').catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/"someone\/nothing-here" was not found on 127\.0\.0\.1:\d+/);
    expect(error.message).toMatch(/check the id/);
  });

  test('a checkpoint with only pytorch_model.bin: never unpickled, the fix named', async () => {
    const error = await SegGPTForImageSegmentation.from_pretrained('someone/pickle-seggpt').catch((e) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(error.message).toMatch(/pytorch_model\.bin/);
    expect(error.message).toMatch(/safetensors/);
    expect(hub.received.requests.some((r) => r.url.includes('pickle-seggpt') && r.url.endsWith('pytorch_model.bin') && r.method === 'GET' && !r.range?.match(/^bytes=0-/))).toBe(false);
  });

  test('a repo that is not SegGPT', async () => {
    const error = await SegGPTForImageSegmentation.from_pretrained('someone/segformer').catch((e) => e);
    expect(error).toBeInstanceOf(SegGPTConfigError);
    expect(error.message).toMatch(/model_type/);
  });

  test('an unknown dtype lists the variants', async () => {
    const error = await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'bnb4' as 'fp32' }).catch((e) => e);
    expect(error.message).toMatch(/bnb4.*fp32, fp16, q8/);
  });

  test('a bare folder name is read as a hub id, and the folder is pointed out', async () => {
    const cwd = process.cwd();
    const here = join(work, 'cwd');
    const { mkdirSync, cpSync } = await import('node:fs');
    mkdirSync(here, { recursive: true });
    cpSync(TINY, join(here, 'shapes-onnx'), { recursive: true });
    process.chdir(here);
    try {
      const error = await SegGPTForImageSegmentation.from_pretrained('shapes-onnx').catch((e) => e);
      expect(error.message).toMatch(/pass '\.\/shapes-onnx'/);
      const model = await SegGPTForImageSegmentation.from_pretrained('./shapes-onnx');
      await model.dispose();
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('offline', () => {
  test('with the hub stopped: local_files_only loads what was converted; without it, the error names the host and local_files_only', async () => {
    await hub.close();
    const offline = await runChild({ id: REPO, options: { local_files_only: true } });
    expect(offline.error).toBeUndefined();
    expect(differingPixels(offline.result!.mask!)).toBeLessThanOrEqual(2);
    const notConverted = await SegGPTForImageSegmentation.from_pretrained(REPO, { dtype: 'fp16', local_files_only: true }).catch((e) => e);
    expect(notConverted).toBeInstanceOf(CheckpointError);
    expect(notConverted.message).toMatch(/not in the cache.*local_files_only/);
    for (const load of [() => SegGPTForImageSegmentation.from_pretrained('someone/never-loaded'), () => pipeline('image-segmentation', 'someone/never-loaded')]) {
      const unreachable = await load().catch((e) => e);
      expect(unreachable).toBeInstanceOf(HubError);
      expect(unreachable.message).toMatch(/cannot reach 127\.0\.0\.1:\d+ to load "someone\/never-loaded"/);
      expect(unreachable.message).toMatch(/local_files_only/);
    }
    // The alias fails the same way, naming the repo it stands for.
    setDefaultSegGPTModel('someone/never-loaded-either');
    try {
      const alias = await pipeline('image-segmentation', 'seggpt').catch((e) => e);
      expect(alias).toBeInstanceOf(HubError);
      expect(alias.message).toMatch(/someone\/never-loaded-either/);
    } finally {
      setDefaultSegGPTModel(REPO);
    }
  });
});


import { createHash, randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildModelCard } from '../src/conversion/hub/model_card.js';
import { publishModel } from '../src/conversion/hub/publish.js';
import { CheckpointError, HubError } from '../src/errors.js';
import { TINY } from './support/fixtures.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';

const TOKEN = 'hf_testTokenPublish9876543210';
const REPO = 'me/seggpt-tiny-onnx';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let work: string;
let folder: string;
let hub: HubServer;
let bigModel: Buffer;
let smallModel: Buffer;
let savedToken: string | undefined;
/** Everything written to stdout/stderr or the console while publishing, to prove the token never shows. */
let output: string[];

const local = (path: string) => readFile(join(folder, path));

beforeAll(async () => {
  savedToken = process.env.HF_TOKEN;
  delete process.env.HF_TOKEN;
  work = await mkdtemp(join(tmpdir(), 'hub-publish-'));
  folder = join(work, 'converted');
  await mkdir(join(folder, 'onnx'), { recursive: true });
  await copyFile(join(TINY, 'config.json'), join(folder, 'config.json'));
  await copyFile(join(TINY, 'preprocessor_config.json'), join(folder, 'preprocessor_config.json'));
  // Over the hub's 10 MB limit for plain git, so it has to travel through LFS.
  bigModel = randomBytes(11 * 1024 * 1024);
  smallModel = randomBytes(3000);
  await writeFile(join(folder, 'onnx', 'model.onnx'), bigModel);
  await writeFile(join(folder, 'onnx', 'model_quantized.onnx'), smallModel);
  await writeFile(
    join(folder, 'accuracy.json'),
    JSON.stringify({ variants: { fp32: { mean_iou: 0.99871, max_abs: 1.2e-5 }, q8: { mean_iou: 0.95 } } }),
  );
  await writeFile(join(folder, '.DS_Store'), 'junk');
  hub = await startHubServer({ token: TOKEN });
});

afterAll(async () => {
  await hub?.close();
  await rm(work, { recursive: true, force: true });
  if (savedToken !== undefined) process.env.HF_TOKEN = savedToken;
});

beforeEach(() => {
  output = [];
  const capture = (chunk: unknown) => {
    output.push(String(chunk));
    return true;
  };
  vi.spyOn(process.stdout, 'write').mockImplementation(capture);
  vi.spyOn(process.stderr, 'write').mockImplementation(capture);
  for (const level of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    vi.spyOn(console, level).mockImplementation((...args) => void output.push(args.map(String).join(' ')));
  }
});

afterEach(() => {
  vi.restoreAllMocks();
  expect(output.join('\n')).not.toContain(TOKEN);
  expect(JSON.stringify(hub.received.requests)).not.toContain(TOKEN);
});

describe('publishModel', () => {
  it('creates the repo and commits every file, the ONNX graphs through LFS, byte for byte', async () => {
    const events: { file: string; loaded: number; total?: number; phase?: string }[] = [];
    const result = await publishModel(folder, {
      repo: REPO,
      hubUrl: hub.url,
      token: TOKEN,
      private: true,
      baseModel: 'BAAI/seggpt-vit-large',
      onProgress: (e) => events.push(e),
    });

    const commit = hub.commitOf(REPO)!;
    expect(result.commitUrl).toBe(`${hub.url}/${REPO}/commit/${commit}`);
    expect(hub.received.createdRepos).toEqual([{ repo: REPO, visibility: 'private' }]);
    const card = await hub.fileAt(REPO, 'README.md');
    expect(result.files).toEqual([
      { path: 'README.md', size: card!.length, lfs: false },
      { path: 'accuracy.json', size: (await local('accuracy.json')).length, lfs: false },
      { path: 'config.json', size: (await local('config.json')).length, lfs: false },
      { path: 'onnx/model.onnx', size: bigModel.length, lfs: true },
      { path: 'onnx/model_quantized.onnx', size: smallModel.length, lfs: true },
      { path: 'preprocessor_config.json', size: (await local('preprocessor_config.json')).length, lfs: false },
    ]);

    // What the hub holds now is exactly the folder (hidden files left out) plus the card.
    expect(hub.filesAt(REPO)).toEqual(result.files.map((f) => f.path));
    for (const path of ['accuracy.json', 'config.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'preprocessor_config.json']) {
      expect((await hub.fileAt(REPO, path))!.equals(await local(path))).toBe(true);
    }

    // LFS: announced by sha256, uploaded to the signed storage URL without the token, verified by the server.
    const [batch] = hub.received.lfsBatches;
    expect(batch.objects).toEqual(
      expect.arrayContaining([
        { oid: sha256(bigModel), size: bigModel.length },
        { oid: sha256(smallModel), size: smallModel.length },
      ]),
    );
    expect(hub.received.lfsObjects.get(sha256(bigModel))!.equals(bigModel)).toBe(true);
    expect(hub.received.lfsObjects.get(sha256(smallModel))!.equals(smallModel)).toBe(true);
    const [received] = hub.received.commits;
    expect(received.lfsFiles.sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
      { path: 'onnx/model.onnx', oid: sha256(bigModel), size: bigModel.length },
      { path: 'onnx/model_quantized.onnx', oid: sha256(smallModel), size: smallModel.length },
    ]);
    expect(received.files.map((f) => f.path).sort()).toEqual(['README.md', 'accuracy.json', 'config.json', 'preprocessor_config.json']);
    const puts = hub.received.requests.filter((r) => r.method === 'PUT');
    expect(puts.length).toBe(2);
    expect(puts.every((r) => r.url.startsWith('/_lfs/upload/') && r.auth === 'none' && r.status === 200)).toBe(true);
    const apiCalls = hub.received.requests.filter((r) => r.method === 'POST' && !r.url.startsWith('/_lfs/'));
    expect(apiCalls.map((r) => r.auth)).toEqual(apiCalls.map(() => 'valid'));

    const bigEvents = events.filter((e) => e.file === 'onnx/model.onnx');
    expect(bigEvents.some((e) => e.phase === 'hashing')).toBe(true);
    expect(bigEvents.at(-1)).toEqual({ file: 'onnx/model.onnx', loaded: bigModel.length, total: bigModel.length, phase: 'uploading' });
    expect(events.filter((e) => e.file === 'config.json').at(-1)?.loaded).toBe((await local('config.json')).length);
  });

  it('writes a model card with metadata, the variants with sizes and accuracy, and a usage snippet', async () => {
    const card = (await hub.fileAt(REPO, 'README.md'))!.toString('utf8');
    expect(card.startsWith('---\nlibrary_name: transformers.js\npipeline_tag: image-segmentation\nbase_model: BAAI/seggpt-vit-large\ntags:\n  - seggpt\n  - onnx\n---\n')).toBe(true);
    expect(card).toContain('| dtype | file | size | mean IoU | max abs diff |');
    expect(card).toContain('| fp32 | `onnx/model.onnx` | 11.5 MB | 0.9987 | 1.20e-5 |');
    expect(card).toContain('| q8 | `onnx/model_quantized.onnx` | 3.00 kB | 0.9500 | – |');
    expect(card).toContain("import { pipeline } from 'transformers-seggpt';");
    expect(card).toContain("prompt_images: 'prompt.png'");
    expect(card).toContain(`pipeline('image-segmentation', '${REPO}'`);
    // The card the client sent is the card the hub stored.
    expect(hub.received.commits[0].files.find((f) => f.path === 'README.md')!.content.toString('utf8')).toBe(card);
  });

  it('builds a card without accuracy columns, taking base_model from config.json', async () => {
    const other = join(work, 'plain');
    await mkdir(join(other, 'onnx'), { recursive: true });
    const config = JSON.parse(await readFile(join(TINY, 'config.json'), 'utf8'));
    await writeFile(join(other, 'config.json'), JSON.stringify({ ...config, _name_or_path: 'BAAI/seggpt-vit-large' }));
    await writeFile(join(other, 'onnx', 'model_fp16.onnx'), Buffer.alloc(1500));
    await writeFile(join(other, 'onnx', 'model_fp16.onnx_data'), Buffer.alloc(2_500_000));
    const card = await buildModelCard(other, { repo: 'me/plain' });
    expect(card).toContain('base_model: BAAI/seggpt-vit-large\n');
    expect(card).toContain('| dtype | file | size |\n| --- | --- | --- |\n| fp16 | `onnx/model_fp16.onnx` | 2.50 MB |\n');
    expect(card).not.toContain('mean IoU');
    expect(card).toContain("{ dtype: 'fp16' }");
    await writeFile(join(other, 'config.json'), JSON.stringify(config));
    expect(await buildModelCard(other, { repo: 'me/plain' })).not.toContain('base_model');
  });

  it('publishes again to the existing repo on a new branch without re-sending known LFS objects', async () => {
    const putsBefore = hub.received.requests.filter((r) => r.method === 'PUT').length;
    const result = await publishModel(folder, { repo: REPO, hubUrl: hub.url, token: TOKEN, revision: 'onnx-v2' });
    expect(hub.received.createdBranches).toEqual([{ repo: REPO, branch: 'onnx-v2' }]);
    expect(result.commitUrl).toBe(`${hub.url}/${REPO}/commit/${hub.commitOf(REPO, 'onnx-v2')}`);
    expect(hub.received.requests.filter((r) => r.method === 'PUT').length).toBe(putsBefore);
    expect((await hub.fileAt(REPO, 'onnx/model.onnx', 'onnx-v2'))!.equals(bigModel)).toBe(true);
    expect(result.files.filter((f) => f.lfs).map((f) => f.path)).toEqual(['onnx/model.onnx', 'onnx/model_quantized.onnx']);
  });

  it('uploads a large file in parts when the hub offers multipart LFS', async () => {
    const multi = await startHubServer({ token: TOKEN, lfsMultipartChunkSize: 4 * 1024 * 1024 });
    try {
      process.env.HF_TOKEN = TOKEN;
      await publishModel(folder, { repo: 'me/multipart', hubUrl: multi.url });
      expect(multi.received.lfsBatches[0].transfer).toBe('multipart');
      const parts = multi.received.requests.filter((r) => r.url.startsWith('/_lfs/part/'));
      expect(parts.length).toBe(3);
      expect(multi.received.lfsObjects.get(sha256(bigModel))!.equals(bigModel)).toBe(true);
      expect((await multi.fileAt('me/multipart', 'onnx/model.onnx'))!.equals(bigModel)).toBe(true);
    } finally {
      delete process.env.HF_TOKEN;
      await multi.close();
    }
  });

  it('dry run lists the upload with predicted LFS use and sends nothing', async () => {
    const before = hub.received.requests.length;
    const result = await publishModel(folder, { repo: 'me/dry', hubUrl: hub.url, token: TOKEN, dryRun: true });
    expect(hub.received.requests.length).toBe(before);
    expect(result.commitUrl).toBeUndefined();
    expect(result.files.map((f) => [f.path, f.lfs])).toEqual([
      ['README.md', false],
      ['accuracy.json', false],
      ['config.json', false],
      ['onnx/model.onnx', true],
      ['onnx/model_quantized.onnx', true],
      ['preprocessor_config.json', false],
    ]);
    expect(result.files.find((f) => f.path === 'onnx/model.onnx')!.size).toBe(bigModel.length);
    // Not even a connection: a dry run against a hub that is down still answers.
    const gone = await startHubServer();
    await gone.close();
    await expect(publishModel(folder, { repo: 'me/dry', hubUrl: gone.url, dryRun: true })).resolves.toMatchObject({ files: result.files });
  });

  it('turns a refused upload (401) into a HubError that asks for a token and never shows it', async () => {
    const before = hub.received.commits.length;
    const noToken = await publishModel(folder, { repo: 'me/refused', hubUrl: hub.url }).catch((e) => e);
    expect(noToken).toBeInstanceOf(HubError);
    expect(noToken.message).toBe('The hub refused to publish to "me/refused" (401): pass a token with write access (--token or HF_TOKEN)');
    expect(hub.received.requests.at(-1)).toMatchObject({ method: 'POST', url: '/api/models/me/refused/preupload/main', status: 401 });

    const wrong = 'hf_wrongTokenPublish555555555';
    const refused = await publishModel(folder, { repo: REPO, hubUrl: hub.url, token: wrong }).catch((e) => e);
    expect(refused).toBeInstanceOf(HubError);
    expect(refused.message).toMatch(/refused to publish .*\(401\): check that the token has write access/);
    for (const text of [refused.message, String(refused.stack), String(refused.cause?.message), String(refused.cause?.stack)]) {
      expect(text).not.toContain(wrong);
    }
    expect(hub.received.commits.length).toBe(before);
  });

  it('refuses a folder that is not a converted model', async () => {
    const empty = join(work, 'empty');
    await mkdir(empty, { recursive: true });
    await writeFile(join(empty, 'config.json'), '{}');
    await expect(publishModel(empty, { repo: REPO, dryRun: true })).rejects.toThrow(CheckpointError);
    await expect(publishModel(join(work, 'missing'), { repo: REPO, dryRun: true })).rejects.toThrow(/is not a folder/);
  });
});

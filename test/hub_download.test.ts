import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadCheckpoint } from '../src/conversion/hub/download.js';
import { CheckpointError, HubError, InputError } from '../src/errors.js';
import { TINY } from './support/fixtures.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';

const TOKEN = 'hf_testTokenDownload0123456789';
const REPO = 'test-org/seggpt-tiny';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let hub: HubServer;
let work: string;
let weights: Buffer;
let shards: [Buffer, Buffer];

const tinyFiles = () => ({
  'config.json': join(TINY, 'config.json'),
  'preprocessor_config.json': join(TINY, 'preprocessor_config.json'),
  'model.safetensors': join(TINY, 'model.safetensors'),
});

let savedToken: string | undefined;

beforeAll(async () => {
  // A token from the environment would change what the tests send.
  savedToken = process.env.HF_TOKEN;
  delete process.env.HF_TOKEN;
  work = await mkdtemp(join(tmpdir(), 'hub-download-'));
  weights = await readFile(join(TINY, 'model.safetensors'));
  // The downloader moves bytes, it does not parse them: two halves of the tiny file make the shards.
  const half = Math.floor(weights.length / 2);
  shards = [weights.subarray(0, half), weights.subarray(half)];
  const index = {
    metadata: { total_size: weights.length },
    weight_map: { 'model.a': 'model-00001-of-00002.safetensors', 'decoder.b': 'model-00002-of-00002.safetensors', 'model.c': 'model-00001-of-00002.safetensors' },
  };
  hub = await startHubServer({
    token: TOKEN,
    repos: {
      [REPO]: { files: { ...tinyFiles(), 'README.md': new TextEncoder().encode('# tiny\n') } },
      'test-org/seggpt-tagged': { revision: 'v1', files: tinyFiles() },
      'test-org/seggpt-private': { private: true, files: tinyFiles() },
      'test-org/seggpt-sharded': {
        files: {
          'config.json': join(TINY, 'config.json'),
          'preprocessor_config.json': join(TINY, 'preprocessor_config.json'),
          'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify(index)),
          'model-00001-of-00002.safetensors': shards[0],
          'model-00002-of-00002.safetensors': shards[1],
        },
      },
      'test-org/no-weights': {
        files: { 'config.json': join(TINY, 'config.json'), 'preprocessor_config.json': join(TINY, 'preprocessor_config.json') },
      },
      'test-org/a-vit': {
        files: { ...tinyFiles(), 'config.json': new TextEncoder().encode('{"model_type": "vit"}') },
      },
    },
  });
});

afterAll(async () => {
  await hub?.close();
  await rm(work, { recursive: true, force: true });
  if (savedToken !== undefined) process.env.HF_TOKEN = savedToken;
});

describe('loopback hub server', () => {
  it('serves regular files with ETag, commit and ranges, LFS files by redirect, and hub error codes', async () => {
    const config = await readFile(join(TINY, 'config.json'));
    const full = await fetch(`${hub.url}/${REPO}/resolve/main/config.json`);
    expect(full.status).toBe(200);
    expect(Buffer.from(await full.arrayBuffer()).equals(config)).toBe(true);
    expect(full.headers.get('x-repo-commit')).toBe(hub.commitOf(REPO));
    expect(full.headers.get('etag')).toMatch(/^"[0-9a-f]{40}"$/);

    const part = await fetch(`${hub.url}/${REPO}/resolve/main/config.json`, { headers: { Range: 'bytes=5-14' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 5-14/${config.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(config.subarray(5, 15))).toBe(true);

    const redirect = await fetch(`${hub.url}/${REPO}/resolve/main/model.safetensors`, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('x-linked-etag')).toBe(`"${sha256(weights)}"`);
    expect(redirect.headers.get('x-linked-size')).toBe(String(weights.length));
    const cdn = await fetch(redirect.headers.get('location')!, { headers: { Range: 'bytes=-16' } });
    expect(cdn.status).toBe(206);
    expect(Buffer.from(await cdn.arrayBuffer()).equals(weights.subarray(weights.length - 16))).toBe(true);

    const head = await fetch(`${hub.url}/${REPO}/resolve/main/missing.json`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(head.headers.get('x-error-code')).toBe('EntryNotFound');
    const noRepo = await fetch(`${hub.url}/test-org/nope/resolve/main/config.json`);
    expect([noRepo.status, noRepo.headers.get('x-error-code')]).toEqual([404, 'RepoNotFound']);
    const noRev = await fetch(`${hub.url}/${REPO}/resolve/v9/config.json`);
    expect([noRev.status, noRev.headers.get('x-error-code')]).toEqual([404, 'RevisionNotFound']);
    const hidden = await fetch(`${hub.url}/test-org/seggpt-private/resolve/main/config.json`);
    expect([hidden.status, hidden.headers.get('x-error-code')]).toEqual([401, 'RepoNotFound']);
  });

  it('serves Transformers.js remote loading (env.remoteHost)', async () => {
    const { AutoConfig, env } = await import('@huggingface/transformers');
    const saved = { remoteHost: env.remoteHost, allowLocalModels: env.allowLocalModels, useFSCache: env.useFSCache, useBrowserCache: env.useBrowserCache };
    Object.assign(env, { remoteHost: `${hub.url}/`, allowLocalModels: false, useFSCache: false, useBrowserCache: false });
    try {
      const config: any = await AutoConfig.from_pretrained(REPO);
      const expected = JSON.parse(await readFile(join(TINY, 'config.json'), 'utf8'));
      expect(config.model_type).toBe('seggpt');
      expect(config.hidden_size).toBe(expected.hidden_size);
      expect(config.intermediate_hidden_state_indices).toEqual(expected.intermediate_hidden_state_indices);
    } finally {
      Object.assign(env, saved);
    }
  });
});

describe('downloadCheckpoint', () => {
  it('downloads the tiny checkpoint byte for byte, the weights through the LFS redirect, and reports progress', async () => {
    const cacheDir = join(work, 'cache-a');
    const events: { file: string; loaded: number; total?: number }[] = [];
    const before = hub.received.requests.length;
    const folder = await downloadCheckpoint(REPO, { hubUrl: hub.url, cacheDir, onProgress: (e) => events.push(e) });

    const commit = hub.commitOf(REPO)!;
    expect(folder).toBe(join(cacheDir, 'models--test-org--seggpt-tiny', commit));
    expect((await readdir(folder)).sort()).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json']);
    for (const name of ['config.json', 'preprocessor_config.json', 'model.safetensors']) {
      expect(sha256(await readFile(join(folder, name)))).toBe(sha256(await readFile(join(TINY, name))));
    }

    const last = (file: string) => events.filter((e) => e.file === file).at(-1);
    expect(last('model.safetensors')).toEqual({ file: 'model.safetensors', loaded: weights.length, total: weights.length });
    expect(events.filter((e) => e.file === 'model.safetensors').length).toBeGreaterThan(2);

    const requests = hub.received.requests.slice(before);
    const resolveWeights = requests.filter((r) => r.url === `/${REPO}/resolve/${commit}/model.safetensors`);
    expect(resolveWeights.length).toBeGreaterThan(0);
    expect(resolveWeights.every((r) => r.status === 302)).toBe(true);
    const cdn = requests.filter((r) => r.url.startsWith('/_cdn/'));
    // The client probes the size with `Range: bytes=0-0` (206), then streams the whole object (200).
    expect(cdn.map((r) => [r.range, r.status])).toEqual([
      ['bytes=0-0', 206],
      [undefined, 200],
    ]);
    expect(requests.some((r) => r.url === `/${REPO}/resolve/${commit}/config.json` && r.range === 'bytes=0-0' && r.status === 206)).toBe(true);
    expect(requests.every((r) => r.auth === 'none')).toBe(true);
  });

  it('reuses a complete cached snapshot without downloading again', async () => {
    const cacheDir = join(work, 'cache-a');
    const before = hub.received.requests.length;
    const folder = await downloadCheckpoint(REPO, { hubUrl: hub.url, cacheDir });
    expect(sha256(await readFile(join(folder, 'model.safetensors')))).toBe(sha256(weights));
    const requests = hub.received.requests.slice(before);
    expect(requests.filter((r) => r.url.includes('/resolve/') || r.url.startsWith('/_cdn/'))).toEqual([]);
  });

  it('downloads an index and its shards', async () => {
    const folder = await downloadCheckpoint('test-org/seggpt-sharded', { hubUrl: hub.url, cacheDir: join(work, 'cache-b') });
    expect((await readdir(folder)).sort()).toEqual([
      'config.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
      'preprocessor_config.json',
    ]);
    expect((await readFile(join(folder, 'model-00001-of-00002.safetensors'))).equals(shards[0])).toBe(true);
    expect((await readFile(join(folder, 'model-00002-of-00002.safetensors'))).equals(shards[1])).toBe(true);
  });

  it('follows a revision and takes the hub from HF_ENDPOINT', async () => {
    const saved = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = hub.url;
    try {
      const folder = await downloadCheckpoint('test-org/seggpt-tagged', { revision: 'v1', cacheDir: join(work, 'cache-c') });
      expect(folder.endsWith(hub.commitOf('test-org/seggpt-tagged', 'v1')!)).toBe(true);
      expect((await readFile(join(folder, 'model.safetensors'))).equals(weights)).toBe(true);
      const err = await downloadCheckpoint('test-org/seggpt-tagged', { cacheDir: join(work, 'cache-c') }).catch((e) => e);
      expect(err).toBeInstanceOf(HubError);
      expect(err.message).toMatch(/Revision "main" does not exist .*--revision/);
    } finally {
      if (saved === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = saved;
    }
  });

  it('reads a private repo only with the token, and never shows the token', async () => {
    const cacheDir = join(work, 'cache-d');
    const denied = await downloadCheckpoint('test-org/seggpt-private', { hubUrl: hub.url, cacheDir }).catch((e) => e);
    expect(denied).toBeInstanceOf(HubError);
    expect(denied.message).toMatch(/"test-org\/seggpt-private" was not found .*private .*token.*HF_TOKEN/);

    const wrong = 'hf_wrongTokenXYZ0123456789';
    const refused = await downloadCheckpoint('test-org/seggpt-private', { hubUrl: hub.url, cacheDir, token: wrong }).catch((e) => e);
    expect(refused).toBeInstanceOf(HubError);
    expect(refused.message).not.toContain(wrong);
    expect(String(refused.cause ?? '')).not.toContain(wrong);

    const folder = await downloadCheckpoint('test-org/seggpt-private', { hubUrl: hub.url, cacheDir, token: TOKEN });
    expect((await readFile(join(folder, 'model.safetensors'))).equals(weights)).toBe(true);
  });

  it('maps a missing repo, a missing weights file and a non-SegGPT config to errors naming the fix', async () => {
    const cacheDir = join(work, 'cache-e');
    const noRepo = await downloadCheckpoint('test-org/does-not-exist', { hubUrl: hub.url, cacheDir }).catch((e) => e);
    expect(noRepo).toBeInstanceOf(HubError);
    expect(noRepo.message).toMatch(/Repository "test-org\/does-not-exist" was not found on http:\/\/127\.0\.0\.1:\d+: check the id/);
    expect(noRepo.message).not.toContain('\n');

    const noWeights = await downloadCheckpoint('test-org/no-weights', { hubUrl: hub.url, cacheDir }).catch((e) => e);
    expect(noWeights).toBeInstanceOf(HubError);
    expect(noWeights.message).toMatch(/has no model\.safetensors: not a SegGPT checkpoint/);

    const vit = await downloadCheckpoint('test-org/a-vit', { hubUrl: hub.url, cacheDir }).catch((e) => e);
    expect(vit).toBeInstanceOf(CheckpointError);
    expect(vit.message).toMatch(/model_type "vit", expected "seggpt"/);

    await expect(downloadCheckpoint('not a repo', { hubUrl: hub.url, cacheDir })).rejects.toBeInstanceOf(InputError);
  });

  it('reports an unreachable hub as a HubError naming --hub-url', async () => {
    const gone = await startHubServer();
    const url = gone.url;
    await gone.close();
    const err = await downloadCheckpoint(REPO, { hubUrl: url, cacheDir: join(work, 'cache-f') }).catch((e) => e);
    expect(err).toBeInstanceOf(HubError);
    expect(err.message).toBe(`Cannot reach the hub at ${url} (ECONNREFUSED): check --hub-url / HF_ENDPOINT and your network connection`);
  });
});

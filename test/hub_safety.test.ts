/**
 * The hub client never leaks the token, never writes more than a file's announced size, never reuses a cached file
 * that changed since it was verified, cleans up after interrupted downloads, and publishes through the path tested.
 */
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { downloadCheckpoint } from '../src/conversion/hub/download.js';
import { publishModel } from '../src/conversion/hub/publish.js';
import { HubError } from '../src/errors.js';
import { TINY } from './support/fixtures.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';

const TOKEN = 'hf_safetyToken0123456789abc';
let work: string;
let hub: HubServer;
let overrunHub: HubServer;
let weightsCopy: string;
const files = (weights = join(TINY, 'model.safetensors')) => ({
  'config.json': join(TINY, 'config.json'),
  'preprocessor_config.json': join(TINY, 'preprocessor_config.json'),
  'model.safetensors': weights,
});

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-hub-safety-'));
  weightsCopy = join(work, 'weights.safetensors');
  copyFileSync(join(TINY, 'model.safetensors'), weightsCopy);
  hub = await startHubServer({ token: TOKEN, separateCdn: true, cdnCacheHeader: true, repos: { 'me/private': { private: true, files: files() }, 'me/public': { files: files() } } });
  overrunHub = await startHubServer({ separateCdn: true, overrun: { path: weightsCopy, bytes: 200 * 1024 * 1024 }, repos: { 'me/endless': { files: files(weightsCopy) } } });
});

afterAll(async () => {
  await Promise.all([hub?.close(), overrunHub?.close()]);
  rmSync(work, { recursive: true, force: true });
});

const snapshot = (cacheDir: string, repo: string, server = hub) => join(cacheDir, `models--${repo.replace('/', '--')}`, server.commitOf(repo)!);

describe('the token', () => {
  test('goes to the hub only, never to the CDN, even where the CDN answers "X-Cache: … cloudfront"', async () => {
    const before = hub.received.requests.length;
    await downloadCheckpoint('me/private', { hubUrl: hub.url, token: TOKEN, cacheDir: join(work, 'token-cache') });
    const requests = hub.received.requests.slice(before);
    const cdn = requests.filter((r) => r.origin === 'cdn');
    expect(cdn.length).toBeGreaterThan(0);
    expect(cdn.map((r) => r.auth)).toEqual(cdn.map(() => 'none'));
    expect(requests.filter((r) => r.origin === 'hub').every((r) => r.auth === 'valid')).toBe(true);
  });
});

describe('downloads', () => {
  test('a body that runs past the announced size is cut there: a typed error, nothing written', async () => {
    const cacheDir = join(work, 'overrun-cache');
    const started = performance.now();
    const error = await downloadCheckpoint('me/endless', { hubUrl: overrunHub.url, cacheDir }).catch((e) => e);
    expect(error).toBeInstanceOf(HubError);
    expect(error.message).toMatch(/sent more than the \d+ bytes the hub announced/);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(readdirSync(snapshot(cacheDir, 'me/endless', overrunHub)).filter((f) => f.includes('safetensors'))).toEqual([]);
  });

  test('a cached file that changed since it was verified is hashed again and downloaded again', async () => {
    const cacheDir = join(work, 'flip-cache');
    const folder = await downloadCheckpoint('me/public', { hubUrl: hub.url, cacheDir });
    const weights = join(folder, 'model.safetensors');
    const original = readFileSync(weights);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 100] ^= 0xff;
    writeFileSync(weights, flipped);
    const before = hub.received.requests.length;
    await downloadCheckpoint('me/public', { hubUrl: hub.url, cacheDir });
    expect(Buffer.compare(readFileSync(weights), original)).toBe(0);
    expect(hub.received.requests.slice(before).some((r) => r.origin === 'cdn')).toBe(true);
    // Unchanged files are reused without a download.
    const again = hub.received.requests.length;
    await downloadCheckpoint('me/public', { hubUrl: hub.url, cacheDir });
    expect(hub.received.requests.slice(again).some((r) => r.origin === 'cdn')).toBe(false);
  });

  test('what interrupted downloads of dead processes left is removed', async () => {
    const cacheDir = join(work, 'leftover-cache');
    const folder = snapshot(cacheDir, 'me/public');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(folder, { recursive: true });
    const leftover = join(folder, 'model.safetensors.999999999-deadbeef.incomplete');
    writeFileSync(leftover, 'partial');
    await downloadCheckpoint('me/public', { hubUrl: hub.url, cacheDir });
    expect(readdirSync(folder).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
  });
});

describe('publish', () => {
  test('uploads through plain LFS (the client offers no Xet), the path the tests check', async () => {
    const converted = join(work, 'converted');
    await convertCheckpoint({ checkpoint: TINY, output: converted });
    await publishModel(converted, { repo: 'me/published', hubUrl: hub.url, token: TOKEN });
    const batches = hub.received.lfsBatches.filter((b) => b.repo === 'me/published');
    expect(batches.length).toBeGreaterThan(0);
    for (const b of batches) expect(b.transfers).not.toContain('xet');
  });
});

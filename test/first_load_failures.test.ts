/**
 * First loads by hub id that fail part-way, for a variant large enough to be written with an external data file
 * (> 256 MB of weights, as fp32 / fp16 / 8-bit of the real ViT-L are). Transformers.js fetches that file inside a
 * promise executor that cannot pass an error on, so each failure must still reject `from_pretrained` with the typed
 * error — never crash the process with an unhandled rejection or hang — and leave the next load in the same process
 * working. Each scenario runs in its own Node process, whose exit code shows a crash.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';

import { parseSegGPTConfig, segGPTConfigToJSON } from '../src/configs/seggpt_config_fields.js';
import { planVariant } from '../src/conversion/checkpoint.js';
import { writeSyntheticCheckpoint } from '../src/conversion/node/synthetic.js';
import { startHubServer, type HubFileSource, type HubServer } from '../dev/hub_server.js';
import { TINY } from './support/fixtures.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGE = pathToFileURL(join(ROOT, 'dist', 'src', 'index.node.js')).href;
const BIG = 'faults/seggpt-external-data';
const MISMATCHED = 'faults/seggpt-mismatched';

/** 12 layers of width 768: 85 M parameters, 340 MB of float32 weights, so fp32 goes to onnx/model.onnx_data. */
const CONFIG = parseSegGPTConfig({
  model_type: 'seggpt',
  hidden_size: 768,
  num_attention_heads: 12,
  num_hidden_layers: 12,
  image_size: [448, 224],
  patch_size: 16,
  pretrain_image_size: 224,
  merge_index: 2,
  intermediate_hidden_state_indices: [5, 11],
  decoder_hidden_size: 64,
});

let work: string;
let hub: HubServer;
let child: string;

// The scenario runner: one load with a fault, then (same process) a load without it, then a load of another revision
// after the user wrapped env.fetch. Prints one JSON line per step.
const CHILD = `
import { env } from '@huggingface/transformers';
const args = JSON.parse(process.argv[2]);
const { SegGPTForImageSegmentation } = await import(args.package);
env.remoteHost = args.remoteHost;
env.cacheDir = args.cacheDir;
const say = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
const original = env.fetch;
async function step(name, id, options) {
  const started = Date.now();
  try {
    const model = await SegGPTForImageSegmentation.from_pretrained(id, { dtype: 'fp32', ...options });
    await model.dispose();
    say({ step: name, ok: true, seconds: (Date.now() - started) / 1000 });
  } catch (error) {
    say({ step: name, ok: false, name: error?.name, message: String(error?.message ?? error), seconds: (Date.now() - started) / 1000 });
  }
}
const controller = new AbortController();
if (args.abortAfterMs) setTimeout(() => controller.abort(), args.abortAfterMs);
if (args.dropWeightsAfter) {
  // A connection that drops: the n-th read of the weights and every later one fail as undici reports it.
  let reads = 0;
  const prev = env.fetch;
  env.fetch = async (input, init) => {
    const url = typeof input === 'string' ? input : input.url ?? String(input);
    if (/model\\.safetensors/.test(url) && new Headers(init?.headers).get('range') && ++reads >= args.dropWeightsAfter) {
      throw Object.assign(new TypeError('terminated'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    }
    return prev(input, init);
  };
}
await step('faulty', args.id, { signal: controller.signal });
if (args.dropWeightsAfter) env.fetch = original; // the network is back
if (args.retry) await step('again', args.id, {});
if (args.wrapFetch) {
  // A user's logging wrapper, installed after a load, around whatever env.fetch now is.
  let seen = 0;
  const inner = env.fetch;
  env.fetch = (input, init) => { seen++; return inner(input, init); };
  await step('wrapped', args.id, { revision: 'v2' });
  say({ step: 'fetches seen by the wrapper', count: seen });
}
`;

function scenario(args: Record<string, unknown>): Promise<{ code: number | null; steps: Record<string, any>; stderr: string }> {
  return new Promise((done) => {
    const proc = spawn(process.execPath, [child, JSON.stringify({ package: PACKAGE, remoteHost: `${hub.url}/`, ...args })], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), 150_000);
    proc.on('close', (code) => {
      clearTimeout(timer);
      const steps = Object.fromEntries(stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).map((l) => [l.step, l]));
      done({ code, steps, stderr });
    });
  });
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-first-load-failures-'));
  child = join(ROOT, 'test', 'scratch', 'first_load_failures_child.mjs');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(dirname(child), { recursive: true });
  writeFileSync(child, CHILD);
  const big = join(work, 'big');
  await writeSyntheticCheckpoint(CONFIG, big);
  expect((await planVariant(CONFIG, 'fp32')).external_data).toBe(true); // the path under test
  const files = (dir: string): Record<string, HubFileSource> => Object.fromEntries(['config.json', 'preprocessor_config.json', 'model.safetensors'].map((f) => [f, join(dir, f)]));
  // A config that wants far more weights than the tiny checkpoint holds: the conversion fails opening it.
  const mismatched = { ...files(TINY), 'config.json': new TextEncoder().encode(JSON.stringify({ ...JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8')), ...segGPTConfigToJSON(CONFIG) })) };
  hub = await startHubServer({ resolveOnly: true, repos: { [BIG]: { files: files(big) }, [MISMATCHED]: { files: mismatched } } });
  await hub.setFiles(BIG, 'v2', files(big));
}, 120_000);

afterAll(async () => {
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
  rmSync(child, { force: true });
});

test('an abort during the conversion rejects with AbortError; the next load in the same process converts and loads', async () => {
  const r = await scenario({ id: BIG, cacheDir: join(work, 'cache-abort'), abortAfterMs: 1500, retry: true });
  expect(r.code, r.stderr).toBe(0);
  expect(r.steps.faulty).toMatchObject({ ok: false, name: 'AbortError' });
  expect(r.steps.faulty.seconds).toBeLessThan(30);
  expect(r.steps.again, r.stderr).toMatchObject({ ok: true });
});

test('a connection that drops while the weights are read rejects with HubError; the retry loads', async () => {
  const r = await scenario({ id: BIG, cacheDir: join(work, 'cache-drop'), dropWeightsAfter: 3, retry: true });
  expect(r.code, r.stderr).toBe(0);
  expect(r.steps.faulty).toMatchObject({ ok: false, name: 'HubError' });
  expect(r.steps.faulty.message).toMatch(/terminated|UND_ERR_SOCKET|connection/);
  expect(r.steps.again, r.stderr).toMatchObject({ ok: true });
});

test('a config.json that does not match the weights rejects with CheckpointError', async () => {
  const r = await scenario({ id: MISMATCHED, cacheDir: join(work, 'cache-mismatch') });
  expect(r.code, r.stderr).toBe(0);
  expect(r.steps.faulty).toMatchObject({ ok: false, name: 'CheckpointError' });
  expect(r.steps.faulty.message).toMatch(/does not match config\.json/);
});

test('a user who wraps env.fetch after a first load can load again (each wrapper calls the one below it)', async () => {
  const r = await scenario({ id: BIG, cacheDir: join(work, 'cache-wrap'), wrapFetch: true });
  expect(r.code, r.stderr).toBe(0);
  expect(r.steps.faulty).toMatchObject({ ok: true });
  expect(r.steps.wrapped, JSON.stringify(r.steps)).toMatchObject({ ok: true });
  // The wrapper sees the library's requests and the weight reads, each once: a few dozen, not thousands.
  expect(r.steps['fetches seen by the wrapper'].count).toBeGreaterThan(3);
  expect(r.steps['fetches seen by the wrapper'].count).toBeLessThan(200);
});

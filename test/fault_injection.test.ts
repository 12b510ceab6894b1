/**
 * Fault injection: `seggpt convert` is interrupted — SIGINT, SIGTERM, kill -9 — at seeded random moments of a
 * conversion large enough (≈ 150 MB of weights) that the signal lands while the ONNX files are being written. Afterwards
 * the output is either absent or complete and byte-identical to an uninterrupted conversion, and the next conversion
 * into the same parent leaves no staging behind. A kill -9 during a hub download never leaves a cache entry that a
 * later run uses.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { parseSegGPTConfig } from '../src/configs/seggpt_config_fields.js';
import { writeSyntheticCheckpoint } from '../src/conversion/node/synthetic.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';
import { prng } from './support/prng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli', 'seggpt.js');
const TRIALS = 12;
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGKILL'] as const;

/** 12 layers of width 512: 38 M parameters, 151 MB of float32 weights, a 151 MB ONNX file. */
const CONFIG = parseSegGPTConfig({
  model_type: 'seggpt',
  hidden_size: 512,
  num_attention_heads: 8,
  num_hidden_layers: 12,
  image_size: [448, 224],
  patch_size: 16,
  pretrain_image_size: 224,
  merge_index: 2,
  intermediate_hidden_state_indices: [5, 11],
  decoder_hidden_size: 64,
});

let work: string;
let checkpoint: string;
let reference: Map<string, string>;
let referenceSeconds: number;
const table: string[] = [];
const partialBytes: number[] = [];

function run(args: string[], killAfterMs?: number, signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = killAfterMs === undefined ? null : setTimeout(() => child.kill(signal), killAfterMs);
    child.on('close', (code, sig) => {
      if (timer) clearTimeout(timer);
      done({ code, signal: sig, stderr, ms: performance.now() - started });
    });
  });
}

/** sha256 of every file below `folder`, by relative path. */
function hashes(folder: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(relative(folder, path), createHash('sha256').update(readFileSync(path)).digest('hex'));
    }
  };
  walk(folder);
  return out;
}

const staging = (parent: string) => readdirSync(parent).filter((n) => n.includes('.partial-'));


beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-faults-'));
  checkpoint = join(work, 'checkpoint');
  await writeSyntheticCheckpoint(CONFIG, checkpoint);
  const done = await run(['convert', checkpoint, '--output', join(work, 'reference'), '--dtype', 'fp32']);
  expect(done.code, done.stderr).toBe(0);
  referenceSeconds = done.ms / 1000;
  reference = hashes(join(work, 'reference'));
}, 300_000);

afterAll(() => {
  if (table.length) console.log(['trial | signal | at (s) | of (s) | exit | output', ...table].join('\n'));
  rmSync(work, { recursive: true, force: true });
});

describe(`${TRIALS} interrupted conversions`, () => {
  const parent = () => join(work, 'interrupted');

  test.each(Array.from({ length: TRIALS }, (_, k) => [k, SIGNALS[k % SIGNALS.length]] as const))('trial %i: %s', async (k, signal) => {
    mkdirSync(parent(), { recursive: true });
    const output = join(parent(), `out-${k}`);
    // Anywhere from start-up to just past the end of an uninterrupted run (the final rename included).
    const at = (0.15 + 0.95 * prng(1000 + k)()) * referenceSeconds * 1000;
    const result = await run(['convert', checkpoint, '--output', output, '--dtype', 'fp32'], at, signal);
    const outcome = existsSync(output) ? 'complete' : 'absent';
    const partial = staging(parent()).reduce((sum, name) => sum + [...hashes(join(parent(), name)).keys()].reduce((n, f) => n + statSync(join(parent(), name, f)).size, 0), 0);
    if (partial > 0) partialBytes.push(partial);
    table.push(`${k} | ${signal} | ${(at / 1000).toFixed(2)} | ${referenceSeconds.toFixed(2)} | ${result.code ?? result.signal} | ${outcome}${partial ? `, ${(partial / 1e6).toFixed(0)} MB of killed runs' staging in the parent` : ''}`);
    if (existsSync(output)) {
      expect(hashes(output)).toEqual(reference);
    } else if (signal !== 'SIGKILL') {
      // Ctrl-C and TERM: the CLI says so and has already removed its staging folder.
      expect(result.code).toBe(signal === 'SIGINT' ? 130 : 143);
      expect(result.stderr).toMatch(new RegExp(`interrupted \\(${signal}\\)`));
    }
    if (signal !== 'SIGKILL') expect(staging(parent())).toEqual([]);
  });

  test('the next conversion into the same parent leaves no staging of the killed runs, and its output is whole', async () => {
    const done = await run(['convert', checkpoint, '--output', join(parent(), 'after'), '--dtype', 'fp32']);
    expect(done.code, done.stderr).toBe(0);
    expect(staging(parent())).toEqual([]);
    expect(hashes(join(parent(), 'after'))).toEqual(reference);
    // The kills landed while files were being written (a kill -9 leaves a partly written staging folder).
    expect(partialBytes.length).toBeGreaterThan(0);
  });
});

describe('kill -9 during a hub download', () => {
  let hub: HubServer;
  const repo = 'faults/seggpt-big';

  beforeAll(async () => {
    hub = await startHubServer({
      repos: {
        [repo]: {
          files: Object.fromEntries(['config.json', 'preprocessor_config.json', 'model.safetensors'].map((f) => [f, join(checkpoint, f)])),
        },
      },
      // 40 MB/s: the 151 MB download takes about 4 s, time for the kill to land in the middle.
      throttle: { bytesPerSecond: 40e6 },
    });
  });
  afterAll(async () => hub?.close());

  test('the partial download is never used: offline runs find nothing, the next online run downloads again and converts right', async () => {
    const cache = join(work, 'hub-cache');
    const args = (output: string) => ['convert', repo, '--hub-url', hub.url, '--cache-dir', cache, '--output', output, '--dtype', 'fp32'];
    const killed = await run(args(join(work, 'from-hub-killed')), 2000, 'SIGKILL');
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(join(work, 'from-hub-killed'))).toBe(false);

    // With the hub gone, nothing of the interrupted download may pass for the checkpoint.
    const offline = await run(['convert', repo, '--hub-url', 'http://127.0.0.1:9', '--cache-dir', cache, '--output', join(work, 'from-hub-offline'), '--dtype', 'fp32']);
    expect(offline.code).toBe(1);
    expect(offline.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(work, 'from-hub-offline'))).toBe(false);

    const before = hub.received.requests.filter((r) => r.url.endsWith('/model.safetensors')).length;
    hub.setThrottle(undefined);
    const again = await run(args(join(work, 'from-hub')));
    expect(again.code, again.stderr).toBe(0);
    expect(hub.received.requests.filter((r) => r.url.endsWith('/model.safetensors')).length).toBeGreaterThan(before);
    // The ONNX files are the reference's byte for byte (config.json names its source, the repo id here).
    const onnx = (m: Map<string, string>) => [...m].filter(([path]) => path.startsWith('onnx'));
    expect(onnx(hashes(join(work, 'from-hub')))).toEqual(onnx(reference));
    // Nothing of the killed process is left in the cache.
    const leftovers: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
        else if (entry.name.endsWith('.incomplete')) leftovers.push(entry.name);
      }
    };
    walk(cache);
    expect(leftovers).toEqual([]);
  });
});

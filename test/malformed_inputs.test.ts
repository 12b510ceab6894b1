/**
 * A corpus of malformed and hostile inputs — configs, safetensors files, folders, images, options — each given to the
 * JavaScript API and to the CLI. Every one must end in a typed SegGPTError (JS) and in one line on stderr with exit 1
 * (CLI), within 2 s and 500 MB: no crash, no stack trace, no runaway allocation. The table of what each gave is printed.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';

import { RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { pipeline, SegGPTError, type SegGPTImageSegmentationPipeline } from '../src/index.node.js';
import { TINY } from './support/fixtures.js';
import { safetensorsBytes } from './support/safetensors.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHAPES = join(ROOT, 'examples', 'shapes');
const TIME_LIMIT_MS = 2000;
const MEMORY_LIMIT_MB = 500;

let work: string;
let tinyOnnx: string;
let segmenter: SegGPTImageSegmentationPipeline;
const rows: string[] = [];

/** Runs the CLI in a child process and reports its exit code, stderr, wall time and peak RSS. */
function cli(args: string[]): Promise<{ code: number | null; stderr: string; ms: number; peakMB: number }> {
  const rssFile = join(work, `rss-${Math.random().toString(36).slice(2)}`);
  const script =
    `const m = await import(${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'cli', 'main.js')).href)});` +
    `const code = await m.main(process.argv.slice(1));` +
    `(await import('node:fs')).writeFileSync(${JSON.stringify(rssFile)}, String(process.resourceUsage().maxRSS));` +
    `process.exit(code);`;
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'ignore', 'pipe'], cwd: work });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => {
      let peakMB = NaN;
      try {
        peakMB = Number(readFileSync(rssFile, 'utf8')) / 1024;
      } catch {
        // no report: the process died before it could write one (the test then fails on the exit code)
      }
      done({ code, stderr, ms: performance.now() - started, peakMB });
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------------
// Checkpoint folders, each seggpt-tiny with one defect
// ---------------------------------------------------------------------------------------------------------------------

const tinyConfig = () => JSON.parse(readFileSync(join(TINY, 'config.json'), 'utf8'));
const tinyPreprocessor = () => JSON.parse(readFileSync(join(TINY, 'preprocessor_config.json'), 'utf8'));

function checkpoint(name: string, edit: (folder: string) => void): string {
  const folder = join(work, 'checkpoints', name);
  mkdirSync(folder, { recursive: true });
  for (const f of ['config.json', 'preprocessor_config.json', 'model.safetensors']) cpSync(join(TINY, f), join(folder, f));
  edit(folder);
  return folder;
}

const writeJson = (path: string, value: unknown) => writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
const config = (patch: Record<string, unknown>) => (folder: string) => writeJson(join(folder, 'config.json'), { ...tinyConfig(), ...patch });
const preprocessor = (patch: Record<string, unknown>) => (folder: string) => writeJson(join(folder, 'preprocessor_config.json'), { ...tinyPreprocessor(), ...patch });
const weights = (bytes: Uint8Array) => (folder: string) => writeFileSync(join(folder, 'model.safetensors'), bytes);
const replaced = (file: string, make: (path: string) => void) => (folder: string) => {
  rmSync(join(folder, file), { force: true });
  make(join(folder, file));
};

/** The tiny checkpoint's own header, edited. */
function tinyHeader(): { header: Record<string, any>; data: Buffer } {
  const buf = readFileSync(join(TINY, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  return { header: JSON.parse(buf.toString('utf8', 8, 8 + n)), data: buf.subarray(8 + n) };
}
function editedHeader(edit: (header: Record<string, any>) => void): Uint8Array {
  const { header, data } = tinyHeader();
  edit(header);
  return safetensorsBytes(header, data);
}
const firstTensor = (header: Record<string, any>) => Object.keys(header).find((k) => k !== '__metadata__')!;

const CHECKPOINT_CASES: [string, (folder: string) => void][] = [
  ['config.json is not JSON', (f) => writeFileSync(join(f, 'config.json'), '{"model_type": "seggpt",')],
  ['config.json is empty', (f) => writeFileSync(join(f, 'config.json'), '')],
  ['config.json is an array', (f) => writeJson(join(f, 'config.json'), [1, 2, 3])],
  ['config.json is a folder', replaced('config.json', (p) => mkdirSync(p))],
  ['config.json is missing', replaced('config.json', () => {})],
  ['model_type is vit', config({ model_type: 'vit' })],
  ['num_hidden_layers 1e9', config({ num_hidden_layers: 1e9 })],
  ['hidden_size 2^40', config({ hidden_size: 2 ** 40 })],
  ['image_size [1e6, 1e6]', config({ image_size: [1e6, 1e6] })],
  ['a config value nested 100 000 deep', (f) => writeFileSync(join(f, 'config.json'), JSON.stringify(tinyConfig()).replace(/}$/, `, "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`))],
  ['a config value with 2 M entries', config({ image_size: new Array(2_000_000).fill(1) })],
  ['unsorted decoder feature layers', config({ intermediate_hidden_state_indices: [3, 1] })],
  ['preprocessor size 1e9', preprocessor({ size: { height: 1e9, width: 1e9 } })],
  ['preprocessor_config.json is not JSON', (f) => writeFileSync(join(f, 'preprocessor_config.json'), 'size: 448')],
  ['preprocessor image_mean of 2 values', preprocessor({ image_mean: [0.5, 0.5] })],
  ['model.safetensors is missing', replaced('model.safetensors', () => {})],
  ['model.safetensors is empty', weights(new Uint8Array(0))],
  ['model.safetensors is a folder', replaced('model.safetensors', (p) => mkdirSync(p))],
  ['model.safetensors is a symlink loop', replaced('model.safetensors', (p) => symlinkSync(p, p))],
  ['model.safetensors is a device', replaced('model.safetensors', (p) => symlinkSync('/dev/zero', p))],
  ['header length past the file', weights(safetensorsBytes({ a: 1 }, new Uint8Array(0), 1_000_000n))],
  ['header length 2^60', weights(safetensorsBytes({ a: 1 }, new Uint8Array(0), 2n ** 60n))],
  ['header is not JSON', weights(safetensorsBytes('{"a": [1, 2', new Uint8Array(16)))],
  ['header nested 100 000 deep', weights(safetensorsBytes(`{"a": ${'['.repeat(100_000)}${']'.repeat(100_000)}}`))],
  ['header with 130 000 entries', weights(safetensorsBytes(Object.fromEntries(Array.from({ length: 130_000 }, (_, i) => [`t${i}`, { dtype: 'F32', shape: [0], data_offsets: [0, 0] }]))))],
  ['a shape with 2 M entries', weights(editedHeader((h) => (h[firstTensor(h)].shape = new Array(2_000_000).fill(1))))],
  ['an unknown dtype', weights(editedHeader((h) => (h[firstTensor(h)].dtype = 'Q4')))],
  ['offsets past the data', weights(editedHeader((h) => (h[firstTensor(h)].data_offsets = [0, 1e12])))],
  ['reversed offsets', weights(editedHeader((h) => (h[firstTensor(h)].data_offsets = [8, 4])))],
  ['a tensor missing', weights(editedHeader((h) => delete h[firstTensor(h)]))],
  ['a tensor of the wrong shape', weights(editedHeader((h) => (h[firstTensor(h)].shape = [h[firstTensor(h)].shape.reduce((a: number, b: number) => a * b, 1)])))],
  [
    'NaN in a weight',
    (f) => {
      const bytes = readFileSync(join(f, 'model.safetensors'));
      const n = Number(bytes.readBigUInt64LE(0));
      bytes.writeFloatLE(Number.NaN, 8 + n); // the first value of the data section
      writeFileSync(join(f, 'model.safetensors'), bytes);
    },
  ],
  ['only pytorch_model.bin', replaced('model.safetensors', (p) => writeFileSync(join(dirname(p), 'pytorch_model.bin'), 'PK\u0003\u0004'))],
  [
    'an index naming a shard outside the folder',
    replaced('model.safetensors', (p) => writeJson(join(dirname(p), 'model.safetensors.index.json'), { weight_map: { a: '../../escape.safetensors' } })),
  ],
  ['a malformed index', replaced('model.safetensors', (p) => writeFileSync(join(dirname(p), 'model.safetensors.index.json'), '{"weight_map": 7}'))],
];

// ---------------------------------------------------------------------------------------------------------------------
// Images and options for segmentation
// ---------------------------------------------------------------------------------------------------------------------

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  return Buffer.concat([length, Buffer.from(type, 'latin1'), data, Buffer.alloc(4)]); // CRC left 0: only the size matters
}

/** A small PNG whose header declares 16000 × 16000 (what a decompression bomb looks like before decoding). */
function pngBomb(): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(16000, 0);
  header.writeUInt32BE(16000, 4);
  header.set([8, 0, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', header), pngChunk('IDAT', deflateSync(Buffer.alloc(1 << 20))), pngChunk('IEND', Buffer.alloc(0))]);
}

interface SegmentCase {
  name: string;
  /** query, prompt image, prompt mask: file names in the work folder or the shapes examples */
  files: { query: string; prompt: string; mask: string };
  options?: { num_labels?: number };
  cliArgs?: string[];
}

const EX = { query: join(SHAPES, 'ex1_query_image.png'), prompt: join(SHAPES, 'ex1_prompt_image.png'), mask: join(SHAPES, 'ex1_prompt_mask.png') };

const SEGMENT_CASES: (SegmentCase & { make?: (dir: string) => void })[] = [
  { name: 'a PNG that declares 16000 × 16000', files: { ...EX, query: 'bomb.png' }, make: (d) => writeFileSync(join(d, 'bomb.png'), pngBomb()) },
  { name: 'an SVG that renders at 100000 × 100000', files: { ...EX, query: 'bomb.svg' }, make: (d) => writeFileSync(join(d, 'bomb.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="9" height="9"/></svg>') },
  { name: 'a truncated PNG', files: { ...EX, query: 'truncated.png' }, make: (d) => writeFileSync(join(d, 'truncated.png'), readFileSync(EX.query).subarray(0, 60)) },
  { name: 'text named .png', files: { ...EX, query: 'text.png' }, make: (d) => writeFileSync(join(d, 'text.png'), 'not an image at all') },
  { name: 'a zero-byte image', files: { ...EX, query: 'empty.png' }, make: (d) => writeFileSync(join(d, 'empty.png'), '') },
  { name: 'a folder as the image', files: { ...EX, query: 'a-folder' }, make: (d) => mkdirSync(join(d, 'a-folder'), { recursive: true }) },
  { name: 'a missing mask file', files: { ...EX, mask: 'absent.png' } },
  { name: 'a class-index mask without num_labels', files: { ...EX, mask: 'classes.png' }, make: (d) => void 0 },
  { name: 'a black/white mask with num_labels 3', files: EX, options: { num_labels: 3 }, cliArgs: ['--num-labels', '3'] },
  { name: 'a mask with class 9 and num_labels 2', files: { ...EX, mask: 'class9.png' }, options: { num_labels: 2 }, cliArgs: ['--num-labels', '2'] },
];

async function writeClassMaps(dir: string): Promise<void> {
  const mask = await RawImage.read(EX.mask);
  const map = (id: number) => Uint8ClampedArray.from({ length: mask.width * mask.height }, (_, i) => (mask.data[i * mask.channels] > 127 ? id : 0));
  await new RawImage(map(2), mask.width, mask.height, 1).save(join(dir, 'classes.png'));
  await new RawImage(map(9), mask.width, mask.height, 1).save(join(dir, 'class9.png'));
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-malformed-'));
  tinyOnnx = join(work, 'tiny-onnx');
  await convertCheckpoint({ checkpoint: TINY, output: tinyOnnx, dtypes: 'fp32' });
  segmenter = await pipeline('seggpt', tinyOnnx, { device: 'cpu', dtype: 'fp32' });
  for (const c of SEGMENT_CASES) c.make?.(work);
  await writeClassMaps(work);
}, 120_000);

afterAll(async () => {
  await segmenter?.dispose();
  console.log(['input | JS error | JS ms | CLI exit | CLI ms | CLI peak MB | CLI message', ...rows].join('\n'));
  rmSync(work, { recursive: true, force: true });
});

function record(name: string, js: { error: unknown; ms: number }, run: Awaited<ReturnType<typeof cli>>): void {
  const jsName = js.error instanceof Error ? js.error.name : String(js.error);
  const last = run.stderr.trim().split('\n').pop() ?? '';
  rows.push(`${name} | ${jsName} | ${js.ms.toFixed(0)} | ${run.code} | ${run.ms.toFixed(0)} | ${run.peakMB.toFixed(0)} | ${last.replaceAll(work, '…').slice(0, 110)}`);
}

function expectWellFailed(js: { error: unknown; ms: number }, run: Awaited<ReturnType<typeof cli>>): void {
  expect(js.error).toBeInstanceOf(SegGPTError);
  expect((js.error as Error).message.split('\n')).toHaveLength(1);
  expect((js.error as Error).message.length).toBeLessThan(600);
  expect(js.ms).toBeLessThan(TIME_LIMIT_MS);
  expect(run.code).toBe(1);
  // Progress lines may come first (stderr is the CLI's progress channel); the failure is one last line, no stack.
  const lines = run.stderr.trim().split('\n');
  expect(lines.filter((l) => l.startsWith('error: ')), run.stderr).toHaveLength(1);
  expect(lines[lines.length - 1]).toMatch(/^error: /);
  expect(lines.some((l) => /^\s+at /.test(l)), run.stderr).toBe(false);
  expect(lines[lines.length - 1].length).toBeLessThan(700);
  expect(run.ms).toBeLessThan(TIME_LIMIT_MS);
  expect(run.peakMB).toBeLessThan(MEMORY_LIMIT_MB);
}

async function timed(work: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const started = performance.now();
  try {
    await work();
    return { error: 'no error', ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

describe('checkpoints: convertCheckpoint and seggpt convert', () => {
  test.each(CHECKPOINT_CASES)('%s', async (name, edit) => {
    const folder = checkpoint(name.replace(/[^\w]+/g, '-'), edit);
    const js = await timed(() => convertCheckpoint({ checkpoint: folder, output: join(folder, 'out-js'), dtypes: 'fp32' }));
    const run = await cli(['convert', folder, '--output', join(folder, 'out-cli')]);
    record(name, js, run);
    expectWellFailed(js, run);
  });
});

describe('images and masks: the pipeline and seggpt segment', () => {
  test.each(SEGMENT_CASES.map((c) => [c.name, c] as const))('%s', async (name, c) => {
    const path = (file: string) => (file.startsWith('/') ? file : join(work, file));
    const js = await timed(() => segmenter(path(c.files.query), { prompt_images: path(c.files.prompt), prompt_masks: path(c.files.mask), ...c.options }));
    const run = await cli(['segment', path(c.files.query), '--prompt-image', path(c.files.prompt), '--prompt-mask', path(c.files.mask), '--model', tinyOnnx, '--output', join(work, 'out'), ...(c.cliArgs ?? [])]);
    record(name, js, run);
    expectWellFailed(js, run);
  });
});

test('the corpus holds at least 40 inputs', () => {
  expect(CHECKPOINT_CASES.length + SEGMENT_CASES.length).toBeGreaterThanOrEqual(40);
});

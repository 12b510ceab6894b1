import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCheckpointTensors, expectedTensors } from '../src/conversion/checkpoint_layout.js';
import { MAX_HEADER_BYTES, type TensorInfo } from '../src/conversion/safetensors.js';
import { openCheckpointFolder, openSafetensorsFile } from '../src/conversion/node/files.js';
import { parseSegGPTConfig } from '../src/configs/seggpt_config.js';
import { CheckpointError } from '../src/errors.js';
import { SHAPES, TINY, VIT_L } from './support/fixtures.js';
import { readAllF32, writeF32Tensors, writeSafetensors } from './support/safetensors.js';

const tmp = mkdtempSync(join(tmpdir(), 'seggpt-safetensors-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let counter = 0;
const tmpPath = (name = 'model.safetensors'): string => join(tmp, `${counter++}-${name}`);

const configOf = (dir: string) => parseSegGPTConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));

async function checkpointError(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(CheckpointError);
    return (error as Error).message;
  }
  throw new Error('expected a CheckpointError');
}

/** Two F32 tensors a[2,3] and b[4], 40 bytes of data. */
const goodHeader = () => ({
  __metadata__: { format: 'pt' },
  a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
  b: { dtype: 'F32', shape: [4], data_offsets: [24, 40] },
});
const goodData = () => new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).buffer);

describe('SafetensorsFile on the fixtures', () => {
  it.each([
    ['tiny', TINY],
    ['shapes', SHAPES],
  ])('%s: tensors match expectedTensors in state-dict order and read back exactly', async (_, dir) => {
    const path = join(dir, 'model.safetensors');
    const file = await openSafetensorsFile(path);
    try {
      const expected = expectedTensors(configOf(dir));
      expect([...file.tensors.keys()]).toEqual(expected.map((t) => t.name));
      for (const { name, shape } of expected) expect(file.info(name).shape, name).toEqual(shape);
      expect(file.metadata).toEqual({ format: 'pt' });
      expect(checkCheckpointTensors(file, configOf(dir))).toEqual([]);

      const plain = readAllF32(path);
      for (const [name, { values }] of plain) {
        const read = await file.readFloat32(name);
        expect(read.length, name).toBe(values.length);
        let sumRead = 0;
        let sumPlain = 0;
        let mismatches = 0;
        for (let i = 0; i < read.length; i++) {
          sumRead += read[i];
          sumPlain += values[i];
          if (read[i] !== values[i]) mismatches++;
        }
        expect(mismatches, name).toBe(0);
        expect(sumRead, name).toBe(sumPlain);
      }
    } finally {
      await file.close();
    }
  });

  it('reports byte positions inside the file', async () => {
    const file = await openSafetensorsFile(join(TINY, 'model.safetensors'));
    const headerLength = Number(readFileSync(join(TINY, 'model.safetensors')).readBigUInt64LE(0));
    const first = file.info('model.embeddings.mask_token');
    expect(first).toEqual({
      name: 'model.embeddings.mask_token',
      dtype: 'F32',
      shape: [1, 1, 1, 32],
      byteOffset: 8 + headerLength,
      byteLength: 128,
      file: join(TINY, 'model.safetensors'),
    } satisfies TensorInfo);
    await file.close();
  });

  it('names the tensor and the file when a tensor is absent, and refuses reads after close', async () => {
    const file = await openSafetensorsFile(join(TINY, 'model.safetensors'));
    const message = await checkpointError(() => file.info('model.nope'));
    expect(message).toContain('"model.nope"');
    expect(message).toContain(join(TINY, 'model.safetensors'));
    await file.close();
    expect(await checkpointError(file.readFloat32('model.embeddings.mask_token'))).toContain('closed');
  });
});

describe('SafetensorsFile dtypes', () => {
  it('widens F16 (normal, subnormal, zero, inf, NaN) and BF16 exactly', async () => {
    const half = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7c00, 0xfc00, 0x7e00, 0x3555, 0x0400]);
    const bf16 = new Uint16Array([0x3f80, 0xc040, 0x4049, 0x0000]);
    const data = new Uint8Array(half.byteLength + bf16.byteLength);
    data.set(new Uint8Array(half.buffer), 0);
    data.set(new Uint8Array(bf16.buffer), half.byteLength);
    const path = writeSafetensors(tmpPath(), {
      h: { dtype: 'F16', shape: [10], data_offsets: [0, 20] },
      b: { dtype: 'BF16', shape: [2, 2], data_offsets: [20, 28] },
    }, data);
    const file = await openSafetensorsFile(path);
    const h = await file.readFloat32('h');
    expect([...h.slice(0, 7)]).toEqual([1, -2, 65504, 2 ** -24, -0, Infinity, -Infinity]);
    expect(Object.is(h[4], -0)).toBe(true);
    expect(Number.isNaN(h[7])).toBe(true);
    expect(h[8]).toBe(0.333251953125); // 0x3555 = (1 + 341/1024) / 4
    expect(h[9]).toBe(2 ** -14); // smallest normal half
    expect([...(await file.readFloat32('b'))]).toEqual([1, -3, 3.140625, 0]);
    await file.close();
  });

  it('accepts zero-sized tensors', async () => {
    const path = writeSafetensors(tmpPath(), {
      empty: { dtype: 'F32', shape: [0, 4], data_offsets: [0, 0] },
      x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
    }, new Uint8Array(4));
    const file = await openSafetensorsFile(path);
    expect((await file.readFloat32('empty')).length).toBe(0);
    expect([...(await file.readFloat32('x'))]).toEqual([0]);
    await file.close();
  });
});

describe('SafetensorsFile rejects malformed files', () => {
  const cases: [string, () => string, RegExp][] = [
    [
      'a file shorter than 8 bytes',
      () => {
        const path = tmpPath();
        writeFileSync(path, Buffer.from([1, 2, 3]));
        return path;
      },
      /too short/,
    ],
    ['a header length past EOF', () => writeSafetensors(tmpPath(), goodHeader(), goodData(), 5000n), /header length 5000 runs past the end of the file/],
    ['a header length above the cap', () => writeSafetensors(tmpPath(), goodHeader(), goodData(), BigInt(MAX_HEADER_BYTES + 1)), /exceeds the safetensors cap/],
    ['a header that is not JSON', () => writeSafetensors(tmpPath(), '{"a": {"dtype": "F32",', goodData()), /not valid UTF-8 JSON/],
    ['a header that is not UTF-8', () => writeSafetensors(tmpPath(), Buffer.from([0x7b, 0xff, 0x7d]).toString('latin1'), goodData()), /not valid UTF-8 JSON/],
    ['a header that is a JSON array', () => writeSafetensors(tmpPath(), '[1, 2]'), /must be a JSON object/],
    ['non-string metadata', () => writeSafetensors(tmpPath(), { ...goodHeader(), __metadata__: { format: 1 } }, goodData()), /__metadata__/],
    [
      'an integer dtype (I64)',
      () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'I64', shape: [2], data_offsets: [24, 40] } }, goodData()),
      /tensor "b": dtype "I64" is not supported; only floating-point checkpoints \(F32, F16, BF16\)/,
    ],
    ['an unknown dtype', () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'Q4', shape: [4], data_offsets: [24, 40] } }, goodData()), /"Q4" is unknown/],
    ['a negative dimension', () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'F32', shape: [-4], data_offsets: [24, 40] } }, goodData()), /tensor "b": shape \[-4\]/],
    ['offsets out of range', () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'F32', shape: [4], data_offsets: [40, 56] } }, goodData()), /tensor "b": data_offsets \[40, 56\] run past the end of the data section \(40 bytes\)/],
    ['reversed offsets', () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'F32', shape: [0], data_offsets: [24, 20] } }, goodData()), /begin ≤ end/],
    [
      'overlapping tensors',
      () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'F32', shape: [4], data_offsets: [20, 36] } }, goodData().subarray(0, 36)),
      /tensor "b".*overlaps "a"/,
    ],
    [
      'a gap between tensors',
      () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'F32', shape: [3], data_offsets: [28, 40] } }, goodData()),
      /4 unused bytes before tensor "b"/,
    ],
    ['bytes after the last tensor', () => writeSafetensors(tmpPath(), goodHeader(), new Uint8Array(48)), /8 bytes after the last tensor/],
    [
      'shape × dtype different from the byte length',
      () => writeSafetensors(tmpPath(), { ...goodHeader(), b: { dtype: 'F16', shape: [4], data_offsets: [24, 40] } }, goodData()),
      /tensor "b": shape \[4\] × F16 \(2 bytes\) needs 8 bytes but data_offsets \[24, 40\] hold 16/,
    ],
    [
      'a truncated file',
      () => {
        const path = writeSafetensors(tmpPath(), goodHeader(), goodData());
        truncateSync(path, readFileSync(path).length - 10);
        return path;
      },
      /tensor "b": data_offsets \[24, 40\] run past the end of the data section \(30 bytes\) — the file is truncated/,
    ],
  ];

  it.each(cases)('%s', async (_, make, pattern) => {
    const path = make();
    const message = await checkpointError(openSafetensorsFile(path));
    expect(message).toContain(path);
    expect(message).toMatch(pattern);
    expect(message).toMatch(/re-download|float32/);
  });

  it('a missing file', async () => {
    const message = await checkpointError(openSafetensorsFile(join(tmp, 'absent.safetensors')));
    expect(message).toContain('absent.safetensors');
  });

  it('the well-formed variant of those files opens', async () => {
    const file = await openSafetensorsFile(writeSafetensors(tmpPath(), goodHeader(), goodData()));
    expect([...(await file.readFloat32('b'))]).toEqual([7, 8, 9, 10]);
    await file.close();
  });
});

describe('openCheckpointWeights', () => {
  it('opens a single model.safetensors', async () => {
    const weights = await openCheckpointFolder(TINY);
    expect(weights.tensors.size).toBe(expectedTensors(configOf(TINY)).length);
    await weights.close();
  });

  /** Splits the tiny checkpoint into two shards plus an index, as save_pretrained(max_shard_size=...) does. */
  function shardTiny(): { folder: string; plain: ReturnType<typeof readAllF32> } {
    const folder = join(tmp, `sharded-${counter++}`);
    const plain = readAllF32(join(TINY, 'model.safetensors'));
    const names = [...plain.keys()];
    const half = Math.floor(names.length / 2);
    const shardFiles = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const weightMap: Record<string, string> = {};
    [names.slice(0, half), names.slice(half)].forEach((group, k) => {
      const tensors: Record<string, { shape: number[]; values: Float32Array }> = {};
      for (const name of group) {
        tensors[name] = { shape: plain.get(name)!.shape, values: Float32Array.from(plain.get(name)!.values) };
        weightMap[name] = shardFiles[k];
      }
      writeF32TensorsTo(folder, shardFiles[k], tensors);
    });
    writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    return { folder, plain };
  }

  function writeF32TensorsTo(folder: string, name: string, tensors: Record<string, { shape: number[]; values: Float32Array }>): void {
    mkdirSync(folder, { recursive: true });
    writeF32Tensors(join(folder, name), tensors);
  }

  it('opens sharded checkpoints through model.safetensors.index.json', async () => {
    const { folder, plain } = shardTiny();
    const weights = await openCheckpointFolder(folder);
    expect(new Set(weights.tensors.keys())).toEqual(new Set(plain.keys()));
    expect(checkCheckpointTensors(weights, configOf(TINY))).toEqual([]);
    for (const [name, { values }] of plain) {
      const read = await weights.readFloat32(name);
      expect(read.length, name).toBe(values.length);
      expect(read.every((v, i) => v === values[i]), name).toBe(true);
    }
    expect(weights.info('decoder.decoder_pred.head.bias').file).toBe(join(folder, 'model-00002-of-00002.safetensors'));
    expect(await checkpointError(() => weights.info('nope'))).toContain('"nope"');
    await weights.close();
  });

  it('names a missing shard', async () => {
    const { folder } = shardTiny();
    rmSync(join(folder, 'model-00002-of-00002.safetensors'));
    expect(await checkpointError(openCheckpointFolder(folder))).toContain('model-00002-of-00002.safetensors');
  });

  it('rejects an index whose weight_map disagrees with the shards', async () => {
    const { folder } = shardTiny();
    const index = JSON.parse(readFileSync(join(folder, 'model.safetensors.index.json'), 'utf8'));
    index.weight_map['model.embeddings.mask_token'] = 'model-00002-of-00002.safetensors';
    writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify(index));
    const message = await checkpointError(openCheckpointFolder(folder));
    expect(message).toContain('"model.embeddings.mask_token"');
    expect(message).toContain('model-00002-of-00002.safetensors');
  });

  it('rejects shard names that leave the folder and a malformed index', async () => {
    const { folder } = shardTiny();
    writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { a: '../x.safetensors' } }));
    expect(await checkpointError(openCheckpointFolder(folder))).toContain('../x.safetensors');
    writeFileSync(join(folder, 'model.safetensors.index.json'), '{"weight_map": ');
    expect(await checkpointError(openCheckpointFolder(folder))).toContain('model.safetensors.index.json');
  });

  it('explains that pytorch_model.bin checkpoints must be converted', async () => {
    const folder = join(tmp, `bin-${counter++}`);
    mkdirSync(folder, { recursive: true });
    copyFileSync(join(TINY, 'config.json'), join(folder, 'config.json'));
    writeFileSync(join(folder, 'pytorch_model.bin'), 'not really');
    const message = await checkpointError(openCheckpointFolder(folder));
    expect(message).toContain('pytorch_model.bin');
    expect(message).toContain('safetensors');
  });

  it('names the missing folder or files', async () => {
    expect(await checkpointError(openCheckpointFolder(join(tmp, 'nowhere')))).toContain('nowhere');
    const empty = join(tmp, `empty-${counter++}`);
    mkdirSync(empty);
    expect(await checkpointError(openCheckpointFolder(empty))).toContain('model.safetensors');
  });
});

describe('checkCheckpointTensors', () => {
  const tiny = () => configOf(TINY);
  const fakeWeights = (tensors: { name: string; shape: number[] }[]) => ({
    tensors: new Map(tensors.map(({ name, shape }) => [name, { name, shape, dtype: 'F32', byteOffset: 0, byteLength: 0, file: 'fake.safetensors' } as TensorInfo])),
  });

  it('lists missing tensors', async () => {
    const tensors = expectedTensors(tiny()).filter((t) => !t.name.endsWith('layers.2.mlp.lin1.bias'));
    const path = tmpPath();
    writeF32Tensors(path, Object.fromEntries(tensors.map((t) => [t.name, { shape: t.shape, values: new Float32Array(t.shape.reduce((a, b) => a * b, 1)) }])));
    const file = await openSafetensorsFile(path);
    const message = await checkpointError(() => checkCheckpointTensors(file, tiny()));
    await file.close();
    expect(message).toContain('1 missing tensor(s)');
    expect(message).toContain('model.encoder.layers.2.mlp.lin1.bias');
    expect(message).toContain(path);
  });

  it('lists mis-shaped tensors with expected and found shapes', async () => {
    const tensors = expectedTensors(tiny()).map((t) => (t.name === 'decoder.decoder_embed.weight' ? { ...t, shape: [4096, 32] } : t));
    const message = await checkpointError(() => checkCheckpointTensors(fakeWeights(tensors), tiny()));
    expect(message).toContain('decoder.decoder_embed.weight: expected [4096, 64], found [4096, 32]');
  });

  it('catches a config that does not match the weights', async () => {
    const file = await openSafetensorsFile(join(TINY, 'model.safetensors'));
    const message = await checkpointError(() => checkCheckpointTensors(file, parseSegGPTConfig({ ...tiny(), qkv_bias: false, num_hidden_layers: 5, intermediate_hidden_state_indices: [1, 3, 4] })));
    await file.close();
    expect(message).toContain('model.encoder.layers.4.attention.qkv.weight');
    expect(message).toContain('decoder.decoder_embed.weight: expected [4096, 96], found [4096, 64]');
  });

  it('returns warnings for extra tensors', () => {
    const tensors = [...expectedTensors(tiny()), { name: 'model.pooler.dense.weight', shape: [2, 2] }];
    const warnings = checkCheckpointTensors(fakeWeights(tensors), tiny());
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('model.pooler.dense.weight');
  });

  it('lays out the ViT-L checkpoint as tensors.json does', () => {
    const reference = JSON.parse(readFileSync(join(VIT_L, 'tensors.json'), 'utf8')).tensors as Record<string, { shape: number[] }>;
    const expected = expectedTensors(configOf(VIT_L));
    expect(expected.map((t) => t.name)).toEqual(Object.keys(reference));
    for (const { name, shape } of expected) expect(shape, name).toEqual(reference[name].shape);
  });

  it('drops qkv bias and relative positions when the config says so', () => {
    const names = expectedTensors(parseSegGPTConfig({ ...tiny(), qkv_bias: false, use_relative_position_embeddings: false })).map((t) => t.name);
    expect(names.some((n) => n.includes('qkv.bias') || n.includes('rel_pos'))).toBe(false);
    expect(names).toHaveLength(expectedTensors(tiny()).length - 3 * 4);
  });
});

import { readFileSync, writeFileSync } from 'node:fs';

/** Test-only safetensors helpers, independent of conversion/safetensors.ts. */

/** Builds a safetensors file from a header object (or raw header text) and a data section. */
export function safetensorsBytes(header: object | string, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Buffer {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const headerBytes = Buffer.from(text, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(headerBytes.length));
  return Buffer.concat([prefix, headerBytes, data]);
}

export function writeSafetensors(path: string, header: object | string, data?: Uint8Array, headerLength?: bigint): string {
  writeFileSync(path, safetensorsBytes(header, data, headerLength));
  return path;
}

/** Writes well-formed F32 tensors packed in the given order. */
export function writeF32Tensors(path: string, tensors: Record<string, { shape: number[]; values: Float32Array }>): string {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    const bytes = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  return writeSafetensors(path, header, Buffer.concat(parts));
}

/** Reads every tensor of an F32 safetensors file the plain way: whole file, DataView. */
export function readAllF32(path: string): Map<string, { shape: number[]; values: Float64Array }> {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.toString('utf8', 8, 8 + n)) as Record<string, any>;
  const out = new Map<string, { shape: number[]; values: Float64Array }>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (entry.dtype !== 'F32') throw new Error(`${name}: ${entry.dtype}`);
    const [begin, end] = entry.data_offsets as [number, number];
    const values = new Float64Array((end - begin) / 4);
    for (let i = 0; i < values.length; i++) values[i] = buf.readFloatLE(8 + n + begin + 4 * i);
    out.set(name, { shape: entry.shape, values });
  }
  return out;
}

/**
 * Writes tensors as BF16 (the upper half of each float32), in the given order, with an unaligned header (not padded
 * to 8 bytes), as some exporters write them.
 */
export function writeBF16Tensors(path: string, tensors: Record<string, { shape: number[]; values: ArrayLike<number> }>): string {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'bf16' } };
  const parts: Buffer[] = [];
  let offset = 0;
  for (const [name, { shape, values }] of Object.entries(tensors)) {
    const bytes = Buffer.alloc(values.length * 2);
    const f = new Float32Array(1);
    const bits = new Uint32Array(f.buffer);
    for (let i = 0; i < values.length; i++) {
      f[0] = values[i];
      bytes.writeUInt16LE(bits[0] >>> 16, 2 * i);
    }
    header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  return writeSafetensors(path, `${JSON.stringify(header)} `, Buffer.concat(parts));
}

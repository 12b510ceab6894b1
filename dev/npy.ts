import { readFileSync } from 'node:fs';

export interface NpyArray {
  shape: number[];
  dtype: '<f4' | '<f8' | '<i8' | '<i4' | '|u1' | '|b1';
  data: Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;
}

/** Reads a little-endian, C-ordered .npy file (format versions 1–3). */
export function readNpy(path: string): NpyArray {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', headerStart, headerStart + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${path}: unreadable header ${header}`);
  if (fortran === 'True') throw new Error(`${path}: Fortran order is not supported`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = headerStart + headerLen;
  const bytes = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + buf.length);
  const ctor = {
    '<f4': Float32Array,
    '<f8': Float64Array,
    '<i8': BigInt64Array,
    '<i4': Int32Array,
    '|u1': Uint8Array,
    '|b1': Uint8Array,
  }[descr];
  if (!ctor) throw new Error(`${path}: dtype ${descr} is not supported`);
  const data = new ctor(bytes, 0, count);
  return { shape, dtype: descr as NpyArray['dtype'], data };
}

/** Max and mean absolute difference of two equally long float arrays. */
export function absDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
    sum += d;
  }
  return { max, mean: sum / a.length };
}

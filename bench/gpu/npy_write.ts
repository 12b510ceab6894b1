/** A minimal .npy writer (format 1.0, little-endian, C order): float32, int64 and bool arrays, for torch_anchor.py. */
import { writeFileSync } from 'node:fs';

export function writeNpy(path: string, data: Float32Array | BigInt64Array | Uint8Array, shape: readonly number[], descr: '<f4' | '<i8' | '|b1' = '<f4'): void {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`${path}: shape [${shape.join(', ')}] holds ${count} values, data ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Magic (6) + version (2) + length (2) + header + '\n' is padded to a multiple of 64.
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const prefix = Buffer.alloc(10);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = 1;
  prefix[7] = 0;
  prefix.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

/**
 * Pictures the `segment` command writes: the mask (binary 0/255, or the class ids themselves) and an
 * overlay that tints the image where the mask is set, as the original SegGPT demo does.
 */
import { writeFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';

import { RawImage } from '@huggingface/transformers';

/** Distinct, readable tints; class k uses entry (k − 1) mod length. */
const TINTS: [number, number, number][] = [
  [0, 255, 120],
  [255, 48, 48],
  [48, 160, 255],
  [255, 200, 0],
  [60, 210, 90],
  [200, 80, 255],
  [0, 220, 220],
  [255, 120, 40],
  [255, 90, 180],
];

/** What the pictures are drawn from: a SegGPTPrediction, or anything with its map. */
export interface ClassMap {
  width: number;
  height: number;
  /** class id per pixel, 0 = background; binary maps: 1 = the object */
  ids: ArrayLike<number>;
  num_labels: number | null;
}

/** Largest class id a mask PNG holds (16-bit grey). */
export const MAX_PNG_CLASS_ID = 65535;

/**
 * The mask file: binary maps as 0/255; class maps as their ids (8-bit grey up to 255 classes, 16-bit grey up to
 * 65535), so that reading the PNG gives the class of each pixel back.
 */
export function maskImage(map: ClassMap): RawImage | GreyImage16 {
  if (map.num_labels !== null && map.num_labels > 255) return { width: map.width, height: map.height, ids: Uint16Array.from(map.ids) };
  const data = new Uint8ClampedArray(map.width * map.height);
  const scale = map.num_labels === null ? 255 : 1;
  for (let i = 0; i < data.length; i++) data[i] = map.ids[i] * scale;
  return new RawImage(data, map.width, map.height, 1);
}

/** A 16-bit grey picture (class ids above 255). */
export interface GreyImage16 {
  width: number;
  height: number;
  ids: Uint16Array;
}

export function overlayImage(image: RawImage, map: ClassMap, alpha = 0.55): RawImage {
  const rgb = image.channels === 3 ? image : image.rgb();
  if (rgb.width !== map.width || rgb.height !== map.height) throw new Error(`overlay: image ${rgb.width}×${rgb.height} vs mask ${map.width}×${map.height}`);
  const out = new Uint8ClampedArray(rgb.data.length);
  for (let i = 0, p = 0; i < map.ids.length; i++, p += 3) {
    const id = map.ids[i];
    if (id === 0) {
      // Dim the background a little so the tinted answer stands out.
      out[p] = rgb.data[p] * 0.7;
      out[p + 1] = rgb.data[p + 1] * 0.7;
      out[p + 2] = rgb.data[p + 2] * 0.7;
    } else {
      const tint = TINTS[(id - 1) % TINTS.length];
      out[p] = rgb.data[p] * (1 - alpha) + tint[0] * alpha;
      out[p + 1] = rgb.data[p + 1] * (1 - alpha) + tint[1] * alpha;
      out[p + 2] = rgb.data[p + 2] * (1 - alpha) + tint[2] * alpha;
    }
  }
  return new RawImage(out, rgb.width, rgb.height, 3);
}

/** Writes a PNG; 1-channel images stay 1-channel (grey) files, 16-bit maps 16-bit grey files. */
export async function savePng(image: RawImage | GreyImage16, path: string): Promise<void> {
  if (!(image instanceof RawImage)) return writeFile(path, encodeGrey16Png(image));
  if (image.channels !== 1) return image.save(path);
  await image.toSharp().toColourspace('b-w').png().toFile(path);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

/** A 16-bit greyscale PNG (colour type 0, bit depth 16; samples big-endian, one filter byte per row). */
export function encodeGrey16Png({ width, height, ids }: GreyImage16): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([16, 0, 0, 0, 0], 8);
  const raw = Buffer.alloc(height * (1 + 2 * width));
  for (let y = 0, o = 0; y < height; y++) {
    raw[o++] = 0;
    for (let x = 0; x < width; x++, o += 2) raw.writeUInt16BE(ids[y * width + x], o);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))]);
}

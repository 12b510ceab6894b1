/**
 * The pixel size an image will decode to, read from the first bytes of its file (no decoding): PNG, JPEG, GIF, WebP,
 * BMP, TIFF, AVIF/HEIF and SVG. A 1 KB file can declare 16000 × 16000 pixels; knowing that before decoding lets a
 * caller refuse it instead of allocating gigabytes.
 */

export interface ImageSize {
  width: number;
  height: number;
  format: string;
}

/** Bytes of the file head that are enough for every format handled here (JPEG may put EXIF before its frame header). */
export const IMAGE_HEADER_BYTES = 256 * 1024;

const ascii = (bytes: Uint8Array, at: number, length: number) => String.fromCharCode(...bytes.subarray(at, at + length));

function png(view: DataView, bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 24 || view.getUint32(0) !== 0x89504e47 || ascii(bytes, 12, 4) !== 'IHDR') return null;
  return { width: view.getUint32(16), height: view.getUint32(20), format: 'png' };
}

function gif(view: DataView, bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 10 || !ascii(bytes, 0, 4).startsWith('GIF8')) return null;
  return { width: view.getUint16(6, true), height: view.getUint16(8, true), format: 'gif' };
}

function bmp(view: DataView, bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 26 || ascii(bytes, 0, 2) !== 'BM') return null;
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)), format: 'bmp' };
}

function jpeg(view: DataView, bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 4 || view.getUint16(0) !== 0xffd8) return null;
  let at = 2;
  while (at + 9 <= bytes.length) {
    if (bytes[at] !== 0xff) return null;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++;
      continue;
    }
    // Start-of-frame markers (SOF0–SOF15 except DHT, JPG and DAC) hold the frame size.
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: view.getUint16(at + 5), width: view.getUint16(at + 7), format: 'jpeg' };
    }
    if (marker === 0xd9 || marker === 0xda) return null;
    at += 2 + view.getUint16(at + 2);
  }
  return null;
}

function webp(view: DataView, bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 30 || ascii(bytes, 0, 4) !== 'RIFF' || ascii(bytes, 8, 4) !== 'WEBP') return null;
  const chunk = ascii(bytes, 12, 4);
  if (chunk === 'VP8X') {
    const w = 1 + (bytes[24] | (bytes[25] << 8) | (bytes[26] << 16));
    const h = 1 + (bytes[27] | (bytes[28] << 8) | (bytes[29] << 16));
    return { width: w, height: h, format: 'webp' };
  }
  if (chunk === 'VP8 ') return { width: view.getUint16(26, true) & 0x3fff, height: view.getUint16(28, true) & 0x3fff, format: 'webp' };
  if (chunk === 'VP8L') {
    const bits = view.getUint32(21, true);
    return { width: 1 + (bits & 0x3fff), height: 1 + ((bits >>> 14) & 0x3fff), format: 'webp' };
  }
  return null;
}

function tiff(view: DataView, bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 8) return null;
  const order = ascii(bytes, 0, 2);
  if ((order !== 'II' && order !== 'MM') || view.getUint16(2, order === 'II') !== 42) return null;
  const le = order === 'II';
  const ifd = view.getUint32(4, le);
  if (ifd + 2 > bytes.length) return null;
  const entries = view.getUint16(ifd, le);
  let width = 0;
  let height = 0;
  for (let i = 0; i < entries; i++) {
    const at = ifd + 2 + i * 12;
    if (at + 12 > bytes.length) break;
    const tag = view.getUint16(at, le);
    const type = view.getUint16(at + 2, le);
    const value = type === 3 ? view.getUint16(at + 8, le) : view.getUint32(at + 8, le);
    if (tag === 256) width = value;
    if (tag === 257) height = value;
  }
  return width && height ? { width, height, format: 'tiff' } : null;
}

/** AVIF and HEIF: the `ispe` (image spatial extents) property of the primary image. */
function heif(view: DataView, bytes: Uint8Array): ImageSize | null {
  if (bytes.length < 12 || ascii(bytes, 4, 4) !== 'ftyp') return null;
  const brand = ascii(bytes, 8, 4);
  if (!/^(avif|avis|heic|heix|mif1|msf1)$/.test(brand)) return null;
  for (let at = 12; at + 20 <= bytes.length; at++) {
    if (bytes[at] === 0x69 && ascii(bytes, at, 4) === 'ispe') {
      return { width: view.getUint32(at + 8), height: view.getUint32(at + 12), format: brand.startsWith('avi') ? 'avif' : 'heif' };
    }
  }
  return null;
}

/** SVG renders at its width/height (unitless or px), else its viewBox, else 300 × 150. */
function svg(bytes: Uint8Array): ImageSize | null {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, Math.min(bytes.length, 64 * 1024)));
  const tag = /<svg\b[^>]*>/i.exec(text)?.[0];
  if (!tag) return null;
  const attribute = (name: string) => new RegExp(`\\s${name}\\s*=\\s*["']\\s*([0-9.eE+]+)\\s*(px)?\\s*["']`, 'i').exec(tag)?.[1];
  const viewBox = /\sviewBox\s*=\s*["']\s*[-0-9.eE+]+[\s,]+[-0-9.eE+]+[\s,]+([0-9.eE+]+)[\s,]+([0-9.eE+]+)\s*["']/i.exec(tag);
  const width = Number(attribute('width') ?? viewBox?.[1] ?? 300);
  const height = Number(attribute('height') ?? viewBox?.[2] ?? 150);
  if (!Number.isFinite(width) || !Number.isFinite(height)) return null;
  return { width: Math.ceil(width), height: Math.ceil(height), format: 'svg' };
}

/** The size the image in `head` (the first IMAGE_HEADER_BYTES of its file, or all of it) declares, or null. */
export function imageSizeFromHeader(head: Uint8Array): ImageSize | null {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  for (const parse of [png, jpeg, gif, webp, bmp, tiff, heif]) {
    const size = parse(view, head);
    if (size) return size;
  }
  return svg(head);
}

/** Whether `head` starts like a file of an image format (its size may still lie beyond the bytes at hand). */
export function hasImageSignature(head: Uint8Array): boolean {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  const ascii = (text: string, at = 0) => [...text].every((c, i) => head[at + i] === c.charCodeAt(0));
  return (
    starts(0x89, 0x50, 0x4e, 0x47) || // PNG
    starts(0xff, 0xd8, 0xff) || // JPEG
    ascii('GIF8') ||
    (ascii('RIFF') && ascii('WEBP', 8)) ||
    ascii('BM') ||
    starts(0x49, 0x49, 0x2a, 0x00) || // TIFF, little-endian
    starts(0x4d, 0x4d, 0x00, 0x2a) || // TIFF, big-endian
    ascii('ftyp', 4) || // HEIF, AVIF
    svg(head) !== null
  );
}

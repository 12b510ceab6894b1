import { env, RawImage } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import { getNodePlatform, IS_NODE } from '../loading/platform.js';
import { IMAGE_HEADER_BYTES, imageSizeFromHeader } from '../utils/image_header.js';
import type { PixelBuffer } from '../utils/pixel_buffer.js';

/**
 * Images whose file declares more pixels than this are refused before decoding (a 746 KB PNG can decode to
 * 16000 × 16000 = 1 GB of RGBA): 64 Mi pixels is a 8192 × 8192 image, far above any camera photo SegGPT needs
 * (it sees 448 × 448). Raise it with the `max_pixels` option (CLI: --max-pixels).
 */
export const DEFAULT_MAX_PIXELS = 64 * 1024 * 1024;

/**
 * Anything Transformers.js reads as an image: a `RawImage` (or any `{ data, width, height, channels }`
 * 8-bit buffer), a file path or URL, a `Blob`, or (browser) a canvas.
 */
export type SegGPTImageInput = RawImage | PixelBuffer | string | URL | Blob | HTMLCanvasElement | OffscreenCanvas;

/** One item or a list, as the HF processor accepts. */
export type SegGPTImageInputs = SegGPTImageInput | readonly SegGPTImageInput[];

function isPixelBufferLike(value: unknown): value is PixelBuffer {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Partial<PixelBuffer>;
  return (
    (v.data instanceof Uint8Array || v.data instanceof Uint8ClampedArray) &&
    typeof v.width === 'number' &&
    typeof v.height === 'number' &&
    typeof v.channels === 'number'
  );
}

function isReadable(value: unknown): boolean {
  return (
    typeof value === 'string' ||
    value instanceof URL ||
    (typeof Blob !== 'undefined' && value instanceof Blob) ||
    (typeof HTMLCanvasElement !== 'undefined' && value instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== 'undefined' && value instanceof OffscreenCanvas)
  );
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${(value as object).constructor?.name ?? 'object'}`;
  return `a ${typeof value}`;
}

/** Turns one item or a list into a list; `undefined`/`null`/empty lists are reported as missing, `where` first. */
export function asList(value: unknown, field: string, fix: string, where = 'SegGPTImageProcessor'): unknown[] {
  if (value === undefined || value === null) throw new InputError(`${where}: ${field} is missing; ${fix}`);
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new InputError(`${where}: ${field} is an empty list; ${fix}`);
  return list;
}

function checkBuffer(image: PixelBuffer, where: string): PixelBuffer {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new InputError(`SegGPTImageProcessor: ${where} has size ${width}×${height}; images need a positive integer width and height`);
  }
  if (!Number.isInteger(channels) || channels < 1 || channels > 4) {
    throw new InputError(`SegGPTImageProcessor: ${where} has ${channels} channels; pass a 1-, 2-, 3- or 4-channel image`);
  }
  if (data.length !== width * height * channels) {
    throw new InputError(
      `SegGPTImageProcessor: ${where} holds ${data.length} values but ${width}×${height}×${channels} = ${width * height * channels} are needed; pass an 8-bit interleaved image`,
    );
  }
  return image;
}

export interface ReadImageOptions {
  /** Decoded pixels an image file may declare (default DEFAULT_MAX_PIXELS). */
  max_pixels?: number;
}

/** The file behind a path, URL or Blob, not decoded. */
async function fileOf(item: string | URL | Blob): Promise<Blob> {
  if (typeof Blob !== 'undefined' && item instanceof Blob) return item;
  const text = String(item);
  const platform = getNodePlatform();
  if (IS_NODE && platform && !/^(https?|blob|data):/i.test(text)) {
    const path = /^file:/i.test(text) ? decodeURIComponent(new URL(text).pathname) : text;
    return new Blob([(await platform.readFile(path)) as Uint8Array<ArrayBuffer>]);
  }
  const response = await env.fetch(text);
  if (!response.ok) throw new Error(`${response.status} ${response.statusText}`.trim());
  return response.blob();
}

/** Decodes `item`, refusing a file that declares more than `maxPixels` pixels before any decoding. */
async function decode(item: unknown, where: string, maxPixels: number): Promise<RawImage> {
  const isCanvas = !(typeof item === 'string' || item instanceof URL || (typeof Blob !== 'undefined' && item instanceof Blob));
  if (isCanvas) return RawImage.read(item as Parameters<typeof RawImage.read>[0]);
  const file = await fileOf(item as string | URL | Blob);
  const size = imageSizeFromHeader(new Uint8Array(await file.slice(0, IMAGE_HEADER_BYTES).arrayBuffer()));
  if (size && size.width * size.height > maxPixels) {
    throw new InputError(
      `SegGPTImageProcessor: ${where} is a ${size.format.toUpperCase()} of ${size.width}×${size.height} = ${(size.width * size.height / 1e6).toFixed(1)} MP, ` +
        `above the limit of ${(maxPixels / 1e6).toFixed(1)} MP (SegGPT sees 448 × 448): resize it first, or raise the limit with max_pixels (CLI: --max-pixels)`,
    );
  }
  return RawImage.fromBlob(file);
}

export function checkMaxPixels(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_MAX_PIXELS;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InputError(`SegGPTImageProcessor: max_pixels must be a positive integer (got ${String(value)}); the default is ${DEFAULT_MAX_PIXELS}`);
  }
  return value;
}

/**
 * Reads every item to an 8-bit pixel buffer (paths, URLs, Blobs and canvases decoded as Transformers.js decodes them,
 * after a look at the file's header; buffers are used as they are, never modified). Errors name the field and index.
 */
export async function readImages(items: readonly unknown[], field: string, hint = '', options: ReadImageOptions = {}): Promise<PixelBuffer[]> {
  const maxPixels = checkMaxPixels(options.max_pixels);
  return Promise.all(
    items.map(async (item, i) => {
      const where = `${field}[${i}]`;
      if (isPixelBufferLike(item)) return checkBuffer(item, where);
      if (!isReadable(item)) {
        throw new InputError(
          `SegGPTImageProcessor: ${where} is not an image (got ${kindOf(item)}); pass a RawImage, a file path, a URL or a Blob${hint}`,
        );
      }
      let image: RawImage;
      try {
        image = await decode(item, where, maxPixels);
      } catch (cause) {
        if (cause instanceof InputError) throw cause;
        const what = typeof item === 'string' || item instanceof URL ? ` "${String(item)}"` : '';
        throw new InputError(
          `SegGPTImageProcessor: could not read ${where}${what}: ${String((cause as Error)?.message ?? cause).split('\n')[0]}; check the path or URL and that it is a PNG/JPEG/WebP image`,
          { cause },
        );
      }
      return checkBuffer(image, where);
    }),
  );
}

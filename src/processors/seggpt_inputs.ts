import { RawImage } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import type { PixelBuffer } from '../utils/pixel_buffer.js';

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

/** Turns one item or a list into a list; `undefined`/`null`/empty lists are reported as missing. */
export function asList(value: unknown, field: string, fix: string): unknown[] {
  if (value === undefined || value === null) throw new InputError(`SegGPTImageProcessor: ${field} is missing; ${fix}`);
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new InputError(`SegGPTImageProcessor: ${field} is an empty list; ${fix}`);
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

/**
 * Reads every item to an 8-bit pixel buffer (RawImage.read for paths, URLs, Blobs and canvases;
 * buffers are used as they are, never modified). Errors name the field and index.
 */
export async function readImages(items: readonly unknown[], field: string, hint = ''): Promise<PixelBuffer[]> {
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
        image = await RawImage.read(item as Parameters<typeof RawImage.read>[0]);
      } catch (cause) {
        const what = typeof item === 'string' || item instanceof URL ? ` "${String(item)}"` : '';
        throw new InputError(
          `SegGPTImageProcessor: could not read ${where}${what}: ${(cause as Error)?.message ?? cause}; check the path or URL and that it is a PNG/JPEG/WebP image`,
          { cause },
        );
      }
      return checkBuffer(image, where);
    }),
  );
}

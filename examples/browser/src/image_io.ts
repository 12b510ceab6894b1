import type { PixelBuffer } from './seggpt.js';

/**
 * Decodes a PNG/JPEG/WebP file or URL exactly as stored: no colour-space conversion and no alpha premultiplication,
 * so the pixels equal what Node (sharp) or Python (Pillow) read from the same file.
 */
export async function decodeImage(source: Blob | string): Promise<ImageBitmap> {
  let blob: Blob;
  if (typeof source === 'string') {
    const response = await fetch(source);
    if (!response.ok) throw new Error(`could not load ${source}: HTTP ${response.status}`);
    blob = await response.blob();
  } else {
    blob = source;
  }
  return createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
}

/** A canvas of the given size whose pixels are read back often (keeps it on the CPU). */
export function makeCanvas(width: number, height: number): HTMLCanvasElement {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

export function context2d(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser has no 2D canvas');
  return ctx;
}

/** The RGB pixels of a bitmap (alpha dropped, like PIL's convert('RGB')), as the processor takes them. */
export function bitmapToRGB(bitmap: ImageBitmap): PixelBuffer {
  const canvas = makeCanvas(bitmap.width, bitmap.height);
  const ctx = context2d(canvas);
  ctx.drawImage(bitmap, 0, 0);
  const rgba = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const rgb = new Uint8Array(bitmap.width * bitmap.height * 3);
  for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) {
    rgb[o] = rgba[i];
    rgb[o + 1] = rgba[i + 1];
    rgb[o + 2] = rgba[i + 2];
  }
  return { data: rgb, width: bitmap.width, height: bitmap.height, channels: 3 };
}

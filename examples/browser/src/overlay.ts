import { context2d, makeCanvas } from './image_io.js';

const OBJECT_RGB = [0, 200, 255] as const;
const OBJECT_ALPHA = 0.6;

/** The segmenter's binary map (ids 0/1) as a 0/1 byte mask. */
export function binaryMask(ids: Int32Array): Uint8Array {
  return Uint8Array.from(ids, (id) => (id !== 0 ? 1 : 0));
}

/** Intersection over union of two 0/1 masks (1 when both are empty). */
export function iou(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    inter += a[i] & b[i];
    union += a[i] | b[i];
  }
  return union === 0 ? 1 : inter / union;
}

/** The query image with the predicted object tinted and outlined. */
export function drawOverlay(canvas: HTMLCanvasElement, query: ImageBitmap, mask: Uint8Array): void {
  const { width, height } = query;
  canvas.width = width;
  canvas.height = height;
  const ctx = context2d(canvas);
  ctx.drawImage(query, 0, 0);
  const pixels = ctx.getImageData(0, 0, width, height);
  const d = pixels.data;
  const on = (x: number, y: number) => x >= 0 && y >= 0 && x < width && y < height && mask[y * width + x] === 1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!on(x, y)) continue;
      const p = (y * width + x) * 4;
      const edge = !on(x - 1, y) || !on(x + 1, y) || !on(x, y - 1) || !on(x, y + 1);
      const alpha = edge ? 1 : OBJECT_ALPHA;
      for (let c = 0; c < 3; c++) d[p + c] = Math.round(d[p + c] * (1 - alpha) + OBJECT_RGB[c] * alpha);
    }
  }
  ctx.putImageData(pixels, 0, 0);
}

/** A grey-level map (0–255) as an image: the raw post-processed prediction, or a 0/1 mask scaled by 255. */
export function drawGrey(canvas: HTMLCanvasElement, values: ArrayLike<number>, width: number, height: number, scale = 1): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = context2d(canvas);
  const pixels = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const v = Math.max(0, Math.min(255, values[i] * scale));
    pixels.data[i * 4] = pixels.data[i * 4 + 1] = pixels.data[i * 4 + 2] = v;
    pixels.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(pixels, 0, 0);
}

/** Reads a mask PNG (object = bright) at the given size as 0/1. */
export function maskFromBitmap(bitmap: ImageBitmap, width: number, height: number): Uint8Array {
  const canvas = makeCanvas(width, height);
  const ctx = context2d(canvas);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(bitmap, 0, 0, width, height);
  const d = ctx.getImageData(0, 0, width, height).data;
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = d[i * 4] >= 128 ? 1 : 0;
  return mask;
}

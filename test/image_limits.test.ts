/**
 * Images are measured from their file header before they are decoded (a tiny file may declare gigapixels), and the
 * nearest-palette-colour search of post-processing costs the same for 3 classes or 16 million.
 */
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { InputError, SegGPTImageProcessor } from '../src/index.node.js';
import { get_palette, MAX_NUM_LABELS, nearestInList, SegGPTPalette } from '../src/processors/seggpt_palette.js';
import { DEFAULT_MAX_PIXELS } from '../src/processors/image_inputs.js';
import { imageSizeFromHeader } from '../src/utils/image_header.js';
import { TINY } from './support/fixtures.js';

const sharp = createRequire(import.meta.url)('sharp') as typeof import('sharp').default;
const work = mkdtempSync(join(tmpdir(), 'seggpt-image-limits-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A PNG signature and IHDR chunk declaring width × height (no image data: nothing may try to decode it). */
function pngHeader(width: number, height: number): Uint8Array {
  const bytes = new Uint8Array(33);
  const view = new DataView(bytes.buffer);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 0);
  view.setUint32(8, 13);
  bytes.set([0x49, 0x48, 0x44, 0x52], 12);
  view.setUint32(16, width);
  view.setUint32(20, height);
  bytes.set([8, 2, 0, 0, 0], 24);
  return bytes;
}

describe('image sizes from file headers', () => {
  test.each([
    ['png', (s: import('sharp').Sharp) => s.png()],
    ['jpeg', (s: import('sharp').Sharp) => s.jpeg()],
    ['webp', (s: import('sharp').Sharp) => s.webp()],
    ['webp', (s: import('sharp').Sharp) => s.webp({ lossless: true })],
    ['gif', (s: import('sharp').Sharp) => s.gif()],
    ['tiff', (s: import('sharp').Sharp) => s.tiff()],
    ['heif', (s: import('sharp').Sharp) => s.heif({ compression: 'av1' })],
  ])('%s', async (format, encode) => {
    const file = await encode(sharp({ create: { width: 37, height: 23, channels: 3, background: '#336699' } })).toBuffer();
    const size = imageSizeFromHeader(new Uint8Array(file));
    expect(size).toMatchObject({ width: 37, height: 23 });
    expect(format === 'heif' ? ['avif', 'heif'] : [format]).toContain(size!.format);
  });

  test('svg: width/height, else viewBox, else 300 × 150', () => {
    const svg = (attrs: string) => new TextEncoder().encode(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" ${attrs}></svg>`);
    expect(imageSizeFromHeader(svg('width="100000" height="50000px"'))).toMatchObject({ width: 100000, height: 50000 });
    expect(imageSizeFromHeader(svg('viewBox="0 0 640 480"'))).toMatchObject({ width: 640, height: 480 });
    expect(imageSizeFromHeader(svg(''))).toMatchObject({ width: 300, height: 150 });
  });
});

describe('the pixel limit', () => {
  const processor = () => SegGPTImageProcessor.from_pretrained(TINY);
  const prompt = join(TINY, 'cases', '01_single_binary_semantic', 'prompt_image_0.png');
  const mask = join(TINY, 'cases', '01_single_binary_semantic', 'prompt_mask_0.png');

  test.each([
    ['a 33-byte PNG declaring 16000 × 16000', 'huge.png', pngHeader(16000, 16000), /PNG of 16000×16000 = 256\.0 MP, above the limit of 67\.1 MP.*max_pixels/],
    ['a 122-byte SVG declaring 100000 × 100000', 'huge.svg', new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="1" height="1"/></svg>'), /SVG of 100000×100000/],
  ])('%s is refused before it is decoded', async (_name, file, bytes, message) => {
    const path = join(work, file);
    writeFileSync(path, bytes);
    const started = performance.now();
    const rss = process.memoryUsage().rss;
    const error = await (await processor())(path, { prompt_images: prompt, prompt_masks: mask }).catch((e) => e);
    expect(error).toBeInstanceOf(InputError);
    expect(error.message).toMatch(message);
    expect(error.message).toMatch(/images\[0\]/);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(process.memoryUsage().rss - rss).toBeLessThan(200 * 1024 * 1024);
  });

  test('max_pixels raises or lowers it; the default lets real photos through', async () => {
    const path = join(work, 'photo.png');
    await sharp({ create: { width: 3000, height: 2000, channels: 3, background: '#808080' } }).png().toFile(path);
    const p = await processor();
    await expect(p(path, { prompt_images: prompt, prompt_masks: mask, max_pixels: 5_000_000 })).rejects.toThrow(/6\.0 MP, above the limit of 5\.0 MP/);
    const inputs = await p(path, { prompt_images: prompt, prompt_masks: mask });
    expect(inputs.original_sizes).toEqual([[2000, 3000]]);
    expect(DEFAULT_MAX_PIXELS).toBeGreaterThan(50_000_000);
    await expect(p(path, { prompt_images: prompt, prompt_masks: mask, max_pixels: 0 })).rejects.toThrow(/max_pixels must be a positive integer/);
  });
});

describe('the nearest palette colour', () => {
  /** Deterministic pseudo-random channel values, with the hard ones: grid values, midpoints, the ends. */
  function pixels(palette: SegGPTPalette, count: number): [number, number, number][] {
    const out: [number, number, number][] = [];
    let s = 1234567;
    const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 255;
    const m = palette.margin;
    const special = [0, 255, 255 - m, 255 - m / 2, 255 - 1.5 * m, Math.fround(255 - m / 2 + 1e-5), 127.5, 0.5];
    for (let i = 0; i < count; i++) {
      const pick = (k: number) => (i % 3 === k ? special[(i >> 2) % special.length] : Math.fround(next()));
      out.push([pick(0), pick(1), pick(2)]);
    }
    return out;
  }

  test.each([1, 2, 3, 7, 8, 26, 27, 28, 31, 32, 33, 63, 64, 65, 124, 125, 126, 215, 216, 217, 300, 999, 1000, 4095, 4096, 12345, 65535])(
    'num_labels %i: the grid search equals a search over every colour, ties to the first',
    (n) => {
      const palette = new SegGPTPalette(n);
      const flat = Float32Array.from(get_palette(n).flat());
      for (const [r, g, b] of pixels(palette, n > 10000 ? 60 : 300)) expect(palette.nearest(r, g, b), `${r}, ${g}, ${b}`).toBe(nearestInList(flat, r, g, b));
    },
  );

  test('16 777 215 labels (the largest): same answers on sample pixels, without building the palette', () => {
    const palette = new SegGPTPalette(MAX_NUM_LABELS);
    const sample = pixels(palette, 4);
    const flat = new Float32Array(3 * (MAX_NUM_LABELS + 1));
    for (let i = 0; i <= MAX_NUM_LABELS; i++) flat.set(palette.colour(i), 3 * i);
    for (const [r, g, b] of sample) expect(palette.nearest(r, g, b)).toBe(nearestInList(flat, r, g, b));
  });
});

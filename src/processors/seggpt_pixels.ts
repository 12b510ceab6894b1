import { InputError } from '../errors.js';
import { pillowNearestIndices } from '../utils/pillow_nearest.js';
import { pillowResize } from '../utils/pillow_resize.js';
import type { PixelBuffer } from '../utils/pixel_buffer.js';
import type { SegGPTPreprocessSettings } from './seggpt_options.js';
import type { SegGPTPalette } from './seggpt_palette.js';

/**
 * Lookup table `table[c * 256 + v]` = the float32 a uint8 value v becomes in channel c, exactly as HF:
 * `(v.astype(float64) * rescale_factor).astype(float32)`, then `(x - mean) / std` in float32.
 */
export function normalizationTable(s: SegGPTPreprocessSettings): Float32Array {
  const table = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(s.image_mean[c]);
    const std = Math.fround(s.image_std[c]);
    for (let v = 0; v < 256; v++) {
      let x = s.do_rescale ? Math.fround(v * s.rescale_factor) : v;
      if (s.do_normalize) x = Math.fround(Math.fround(x - mean) / std);
      table[c * 256 + v] = x;
    }
  }
  return table;
}

/**
 * Writes one query or prompt image as normalised CHW float32 at `out[offset…]`, size `height × width`.
 * 1-channel (L) images are used as grey RGB, 2-channel (LA) as their grey part, 4-channel (RGBA) as
 * their RGB part: alpha is dropped, not composited, like PIL's `convert("RGB")`.
 */
export function writeImage(
  image: PixelBuffer,
  s: SegGPTPreprocessSettings,
  height: number,
  width: number,
  table: Float32Array,
  out: Float32Array,
  offset: number,
): void {
  const colour = image.channels >= 3 ? 3 : 1;
  let data: Uint8Array | Uint8ClampedArray = image.data;
  let stride = image.channels;
  if (image.width !== width || image.height !== height) {
    data = pillowResize(image, width, height, s.resample, colour);
    stride = colour;
  }
  const plane = height * width;
  for (let c = 0; c < 3; c++) {
    const src = colour === 3 ? c : 0;
    const lut = c * 256;
    const base = offset + c * plane;
    for (let i = 0, p = src; i < plane; i++, p += stride) out[base + i] = table[lut + data[p]];
  }
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

/** The largest first-channel value of `mask`; throws (via `colour`) at the first pixel whose R, G, B differ. */
function scanClassMap(mask: PixelBuffer, colour: () => never): number {
  const { data, channels } = mask;
  const pixels = mask.width * mask.height;
  let max = 0;
  if (channels === 4 && LITTLE_ENDIAN && data.byteOffset % 4 === 0) {
    // Whole pixels as little-endian words: R = G = B exactly when the low 16 bits of w ^ (w >>> 8) are 0.
    const words = new Uint32Array(data.buffer, data.byteOffset, pixels);
    for (let i = 0; i < pixels; i++) {
      const w = words[i];
      if (((w ^ (w >>> 8)) & 0xffff) !== 0) colour();
      const v = w & 0xff;
      if (v > max) max = v;
    }
  } else if (channels >= 3) {
    for (let i = 0, p = 0; i < pixels; i++, p += channels) {
      const v = data[p];
      if (data[p + 1] !== v || data[p + 2] !== v) colour();
      if (v > max) max = v;
    }
  } else {
    for (let p = 0; p < pixels * channels; p += channels) if (data[p] > max) max = data[p];
  }
  return max;
}

/**
 * Checks a class-index prompt mask (do_convert_rgb): grey, and no class above num_labels.
 * Multi-channel masks are accepted when grey (R = G = B), which is how a grey PNG arrives from a
 * browser canvas; a colour mask needs do_convert_rgb: false. A 1-channel map without num_labels has
 * nothing to check (every value 0–255 is a grey level), so it is not scanned.
 */
function checkClassMap(mask: PixelBuffer, where: string, numLabels: number | null): void {
  if (mask.channels < 3 && numLabels === null) return;
  const max = scanClassMap(mask, () => {
    throw new InputError(
      `SegGPTImageProcessor: ${where} is a colour (RGB) image but do_convert_rgb is true; pass do_convert_rgb: false to use an RGB mask as it is, or give a one-channel class-index map`,
    );
  });
  if (numLabels !== null && max > numLabels && max === 255 && numLabels < 255 && onlyBlackAndWhite(mask)) {
    throw new InputError(
      `SegGPTImageProcessor: ${where} holds only 0 and 255, a black/white mask, not a class-index map 0..${numLabels}: ` +
        `for one object leave num_labels unset; for classes give the mask class ids 1..${numLabels} (0 = background)`,
    );
  }
  if (numLabels !== null && max > numLabels) {
    throw new InputError(
      `SegGPTImageProcessor: ${where} holds class ${max} but num_labels is ${numLabels}; pass num_labels: ${max} or more (classes without the background, class 0)`,
    );
  }
}

function onlyBlackAndWhite(mask: PixelBuffer): boolean {
  for (let p = 0; p < mask.data.length; p += mask.channels) if (mask.data[p] !== 0 && mask.data[p] !== 255) return false;
  return true;
}

/**
 * Writes one prompt mask as normalised CHW float32. With do_convert_rgb the class map is coloured
 * (palette when num_labels is set, else the value on all three channels); either way it is resized
 * with Pillow's NEAREST rule. Colouring after the nearest gather equals HF's colour-then-resize,
 * since nearest only copies pixels.
 */
export function writeMask(
  mask: PixelBuffer,
  where: string,
  s: SegGPTPreprocessSettings,
  palette: SegGPTPalette | null,
  height: number,
  width: number,
  table: Float32Array,
  out: Float32Array,
  offset: number,
): void {
  let colours: Float32Array;
  let channels: number;
  if (s.do_convert_rgb) {
    checkClassMap(mask, where, s.num_labels);
    channels = 1;
    colours = new Float32Array(3 * 256);
    const top = palette ? Math.min(255, palette.num_labels) : 255;
    for (let v = 0; v <= top; v++) {
      const colour = palette ? palette.colour(v) : [v, v, v];
      for (let c = 0; c < 3; c++) colours[c * 256 + v] = table[c * 256 + colour[c]];
    }
  } else {
    if (mask.channels < 3) {
      throw new InputError(
        `SegGPTImageProcessor: ${where} has ${mask.channels} channel(s) but do_convert_rgb is false; pass an RGB mask, or leave do_convert_rgb true for a class-index map`,
      );
    }
    channels = 3;
    colours = table;
  }
  const xs = pillowNearestIndices(mask.width, width);
  const ys = pillowNearestIndices(mask.height, height);
  const plane = height * width;
  const { data } = mask;
  const stride = mask.channels;
  // Source byte offset of each output column's pixel, and of each channel's value in it.
  const columns = new Int32Array(width);
  for (let x = 0; x < width; x++) columns[x] = xs[x] * stride;
  for (let c = 0; c < 3; c++) {
    const lut = colours.subarray(c * 256, c * 256 + 256);
    const channel = channels === 3 ? c : 0;
    const base = offset + c * plane;
    for (let y = 0, i = base; y < height; y++) {
      const row = ys[y] * mask.width * stride + channel;
      for (let x = 0; x < width; x++, i++) out[i] = lut[data[row + columns[x]]];
    }
  }
}

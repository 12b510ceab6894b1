import type { PixelBuffer } from './pixel_buffer.js';

/**
 * Pillow's NEAREST resize (`Image.resize(size, NEAREST)` → ImagingScaleAffine). The source
 * coordinate is accumulated in double precision: `pos = 0.5·in/out`, then for each output index
 * `src = (int)pos; pos += in/out`. This is not `floor((i + 0.5)·in/out)`: the accumulated rounding
 * error picks the other neighbour at exact ties for many size pairs. Indices that fall outside the
 * source (never for a plain resize, kept for fidelity) are marked -1 and produce 0, as Pillow's fill.
 */
export function pillowNearestIndices(inSize: number, outSize: number): Int32Array {
  const step = inSize / outSize;
  const out = new Int32Array(outSize);
  let pos = step * 0.5;
  for (let i = 0; i < outSize; i++) {
    const src = pos < 0 ? -1 : Math.trunc(pos);
    out[i] = src < inSize ? src : -1;
    pos += step;
  }
  return out;
}

/** Resizes the first `channels` channels of `src` with Pillow's NEAREST rule; same-size input is copied. */
export function resizeNearest(src: PixelBuffer, outWidth: number, outHeight: number, channels: number = src.channels): Uint8ClampedArray {
  const xs = pillowNearestIndices(src.width, outWidth);
  const ys = pillowNearestIndices(src.height, outHeight);
  const out = new Uint8ClampedArray(outWidth * outHeight * channels);
  const { data, width, channels: stride } = src;
  let o = 0;
  for (let y = 0; y < outHeight; y++) {
    const sy = ys[y];
    for (let x = 0; x < outWidth; x++, o += channels) {
      const sx = xs[x];
      if (sy < 0 || sx < 0) continue;
      const p = (sy * width + sx) * stride;
      for (let c = 0; c < channels; c++) out[o + c] = data[p + c];
    }
  }
  return out;
}

import { resizeNearest } from './pillow_nearest.js';
import { resizeConvolution } from './pillow_resample.js';
import type { PixelBuffer, ResampleId } from './pixel_buffer.js';

export { pillowNearestIndices, resizeNearest } from './pillow_nearest.js';
export { copyChannels, resampleKernel, resizeConvolution, useWasmResample } from './pillow_resample.js';
export { Resample, isResampleId, type PixelBuffer, type ResampleId } from './pixel_buffer.js';

/**
 * `PIL.Image.resize(size, resample)` for 8-bit images, pure TypeScript (no sharp / canvas), so every
 * runtime produces the same bytes. Only the first `channels` channels are resampled (channels are
 * independent in Pillow, so resizing an RGBA image's RGB part equals converting to RGB first).
 * Returns interleaved data with `channels` channels.
 */
export function pillowResize(
  src: PixelBuffer,
  outWidth: number,
  outHeight: number,
  resample: ResampleId,
  channels: number = src.channels,
): Uint8ClampedArray {
  if (!(channels >= 1 && channels <= src.channels)) {
    throw new RangeError(`pillowResize: channels must be 1..${src.channels}, got ${channels}`);
  }
  if (src.data.length < src.width * src.height * src.channels) {
    throw new RangeError(`pillowResize: data holds ${src.data.length} values, ${src.width}×${src.height}×${src.channels} needed`);
  }
  if (!(Number.isInteger(outWidth) && Number.isInteger(outHeight) && outWidth > 0 && outHeight > 0)) {
    throw new RangeError(`pillowResize: output size must be positive integers, got ${outWidth}×${outHeight}`);
  }
  if (resample === 0) return resizeNearest(src, outWidth, outHeight, channels);
  return resizeConvolution(src, outWidth, outHeight, resample, channels);
}

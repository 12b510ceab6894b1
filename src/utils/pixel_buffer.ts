/**
 * An interleaved 8-bit image: `data[(y * width + x) * channels + c]`. Transformers.js' `RawImage`
 * has exactly this shape, so one can be passed wherever a `PixelBuffer` is expected.
 */
export interface PixelBuffer {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: number;
}

/** Pillow's resampling filter ids (`PIL.Image.Resampling`), as stored in `preprocessor_config.json → resample`. */
export const Resample = {
  NEAREST: 0,
  LANCZOS: 1,
  BILINEAR: 2,
  BICUBIC: 3,
  BOX: 4,
  HAMMING: 5,
} as const;

export type ResampleId = (typeof Resample)[keyof typeof Resample];

export function isResampleId(value: unknown): value is ResampleId {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 5;
}

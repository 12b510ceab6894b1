import { RawImage, Tensor } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import type { SegGPTPalette } from './seggpt_palette.js';

type NumericArray = ArrayLike<number> | BigInt64Array | BigUint64Array;

/**
 * A class-index map: a 1-channel `RawImage` (grey multi-channel images use their first channel), a
 * `Tensor` of shape [H, W] (any integer-valued numeric type, int64 included), or `{ data, width, height }`
 * with one value per pixel, row-major.
 */
export type SegGPTLabelMap =
  | RawImage
  | Tensor
  | { data: NumericArray; width: number; height: number; channels?: number };

const WHERE = 'SegGPTImageProcessor.pre_process_semantic_segmentation';

function readLabelMap(item: unknown, i: number): { data: NumericArray; width: number; height: number; stride: number } {
  const where = `${WHERE}: label_maps[${i}]`;
  if (item instanceof Tensor) {
    if (item.dims.length !== 2) {
      throw new InputError(`${where} is a Tensor of shape [${item.dims.join(', ')}]; pass a [height, width] class-index map`);
    }
    if (typeof item.data === 'string' || Array.isArray(item.data)) {
      throw new InputError(`${where} is a ${item.type} Tensor; pass a numeric class-index map`);
    }
    return { data: item.data as NumericArray, height: item.dims[0], width: item.dims[1], stride: 1 };
  }
  const v = item as { data?: unknown; width?: unknown; height?: unknown; channels?: unknown } | null;
  const dim = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 1;
  if (!v || typeof v !== 'object' || !ArrayBuffer.isView(v.data) || !dim(v.width) || !dim(v.height)) {
    throw new InputError(`${where} is not a label map; pass a 1-channel RawImage, a [height, width] Tensor or { data, width, height }`);
  }
  const stride = v.channels === undefined ? 1 : (v.channels as number);
  if (!dim(stride) || (v.data as NumericArray).length !== v.width * v.height * stride) {
    throw new InputError(`${where} holds ${(v.data as NumericArray).length} values for ${v.width}×${v.height}×${stride}; pass one value per pixel`);
  }
  return { data: v.data as NumericArray, width: v.width, height: v.height, stride };
}

/**
 * Colours class-index maps with the palette (entry 0, black, is the background), the inverse of
 * post-processing with num_labels. Returns 3-channel RawImages to pass as prompt_masks with
 * do_convert_rgb: false.
 */
export function labelMapsToRGB(items: readonly unknown[], palette: SegGPTPalette): RawImage[] {
  const numLabels = palette.num_labels;
  return items.map((item, i) => {
    const { data, width, height, stride } = readLabelMap(item, i);
    const pixels = width * height;
    const rgb = new Uint8ClampedArray(pixels * 3);
    for (let p = 0, q = 0, o = 0; p < pixels; p++, q += stride) {
      const v = Number(data[q]);
      if (!Number.isInteger(v) || v < 0 || v > numLabels) {
        throw new InputError(
          `${WHERE}: label_maps[${i}] holds ${data[q]} at pixel ${p}; class ids must be integers 0..num_labels (${numLabels}), raise num_labels if needed`,
        );
      }
      if (stride >= 3 && (Number(data[q + 1]) !== v || Number(data[q + 2]) !== v)) {
        throw new InputError(`${WHERE}: label_maps[${i}] is a colour image; pass a 1-channel (or grey) class-index map`);
      }
      const colour = palette.colour(v);
      rgb[o++] = colour[0];
      rgb[o++] = colour[1];
      rgb[o++] = colour[2];
    }
    return new RawImage(rgb, width, height, 3);
  });
}

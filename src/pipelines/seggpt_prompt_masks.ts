/**
 * Decides how the pipeline's prompt masks reach the processor: 1-channel (or grey) class maps go through
 * `do_convert_rgb` (palette with num_labels, else the value on R, G and B); colour masks are used as they are.
 */
import { RawImage } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import type { SegGPTImageProcessor } from '../processors/image_processing_seggpt.js';
import { readImages } from '../processors/seggpt_inputs.js';
import type { PixelBuffer } from '../utils/pixel_buffer.js';

export interface PreparedPromptMasks {
  masks: PixelBuffer[];
  /** false when colour masks are passed as RGB. */
  do_convert_rgb: boolean | undefined;
}

function isColour(mask: PixelBuffer): boolean {
  if (mask.channels < 3) return false;
  const { data, channels } = mask;
  for (let p = 0; p < data.length; p += channels) {
    if (data[p] !== data[p + 1] || data[p] !== data[p + 2]) return true;
  }
  return false;
}

function maxValue(mask: PixelBuffer): number {
  let max = 0;
  for (let p = 0; p < mask.data.length; p += mask.channels) if (mask.data[p] > max) max = mask.data[p];
  return max;
}

function greyToRGB(mask: PixelBuffer): PixelBuffer {
  const pixels = mask.width * mask.height;
  const rgb = new Uint8ClampedArray(pixels * 3);
  for (let i = 0; i < pixels; i++) rgb.fill(mask.data[i * mask.channels], i * 3, i * 3 + 3);
  return new RawImage(rgb, mask.width, mask.height, 3);
}

/**
 * Reads the masks, and when colour masks are mixed with class maps colours the class maps the way
 * `do_convert_rgb` would, so every mask can go in as RGB.
 */
export async function preparePromptMasks(
  items: readonly unknown[],
  numLabels: number | null,
  processor: SegGPTImageProcessor,
  maxPixels?: number,
): Promise<PreparedPromptMasks> {
  const masks = await readImages(items, 'prompt_masks', '', { max_pixels: maxPixels });
  const colour = masks.map(isColour);
  if (!colour.some(Boolean)) {
    if (numLabels === null && masks.every((m) => maxValue(m) <= 1) && masks.some((m) => maxValue(m) === 1)) {
      throw new InputError(
        'SegGPT pipeline: the prompt masks only hold the values 0 and 1, which SegGPT sees as (almost) black; ' +
          'pass black/white masks (0 and 255), or class-index maps together with num_labels (e.g. num_labels: 1)',
      );
    }
    return { masks, do_convert_rgb: undefined };
  }
  const rgb = masks.map((mask, i) => {
    if (colour[i]) return mask;
    return numLabels === null ? greyToRGB(mask) : processor.pre_process_semantic_segmentation(mask, numLabels);
  });
  return { masks: rgb, do_convert_rgb: false };
}

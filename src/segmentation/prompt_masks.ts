/**
 * How prompt masks reach the processor: 1-channel (or grey) class maps go through `do_convert_rgb` (palette with
 * num_labels, else the value on R, G and B); colour masks are used as they are. When colour masks are mixed with
 * class maps — or predictions join the prompts (video memory) — every mask is coloured here the way
 * `do_convert_rgb` would, so all of them go in as RGB.
 */
import { RawImage } from '@huggingface/transformers';

import { InputError } from '../errors.js';
import type { SegGPTImageProcessor } from '../processors/image_processing_seggpt.js';
import type { PixelBuffer } from '../utils/pixel_buffer.js';

export interface PreparedPromptMasks {
  masks: PixelBuffer[];
  /** false when the masks are RGB already; undefined leaves the processor's do_convert_rgb. */
  do_convert_rgb: false | undefined;
}

/**
 * Below this grey level a whole mask looks black to SegGPT (it compares colours, 0–255): such masks are class-index
 * maps read without num_labels.
 */
const DARK_MASK_LEVEL = 32;

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

/** Class maps read as grey levels: without num_labels, a mask of small values is (almost) black to SegGPT. */
function checkNotClassMaps(masks: readonly PixelBuffer[]): void {
  const max = Math.max(...masks.map(maxValue));
  if (max === 0 || max >= DARK_MASK_LEVEL) return;
  throw new InputError(
    `SegGPT: the prompt masks only hold values 0 to ${max}, which SegGPT sees as (almost) black: class-index maps need ` +
      `num_labels (here num_labels: ${max}, the classes besides the background); for one object pass a black/white mask (0 and 255)`,
  );
}

/**
 * Colours every mask (and the extra RGB masks) for one processor call. `forceRGB` turns class maps into RGB even when
 * no colour mask is present: the processor then takes all masks with do_convert_rgb: false.
 */
export function preparePromptMasks(
  masks: readonly PixelBuffer[],
  numLabels: number | null,
  processor: SegGPTImageProcessor,
  forceRGB = false,
): PreparedPromptMasks {
  const colour = masks.map(isColour);
  if (numLabels === null && !colour.some(Boolean)) checkNotClassMaps(masks);
  if (!forceRGB && !colour.some(Boolean)) return { masks: [...masks], do_convert_rgb: undefined };
  const rgb = masks.map((mask, i) => {
    if (colour[i]) return mask;
    return numLabels === null ? greyToRGB(mask) : processor.pre_process_semantic_segmentation(mask, numLabels);
  });
  return { masks: rgb, do_convert_rgb: false };
}

/** A prediction as an RGB prompt mask: the object white on black, or the palette colours of its class ids. */
export function predictionMask(ids: Int32Array, width: number, height: number, numLabels: number | null, processor: SegGPTImageProcessor): PixelBuffer {
  if (numLabels !== null) return processor.pre_process_semantic_segmentation({ data: ids, width, height }, numLabels);
  const rgb = new Uint8ClampedArray(ids.length * 3);
  for (let i = 0; i < ids.length; i++) if (ids[i] !== 0) rgb.fill(255, i * 3, i * 3 + 3);
  return new RawImage(rgb, width, height, 3);
}

/**
 * Pictures the `segment` command writes: the mask (binary 0/255, or class ids as grey levels) and an
 * overlay that tints the image where the mask is set, as the original SegGPT demo does.
 */
import { RawImage } from '@huggingface/transformers';

/** Foreground of a map without num_labels: HF's channel mean ≥ 128. */
export const BINARY_THRESHOLD = 128;

/** Distinct, readable tints; class k uses entry (k − 1) mod length. */
const TINTS: [number, number, number][] = [
  [0, 255, 120],
  [255, 48, 48],
  [48, 160, 255],
  [255, 200, 0],
  [60, 210, 90],
  [200, 80, 255],
  [0, 220, 220],
  [255, 120, 40],
  [255, 90, 180],
];

export interface ClassMap {
  width: number;
  height: number;
  /** class id per pixel, 0 = background */
  ids: Uint8Array | Uint16Array | Int32Array;
}

/** Segmentation values → class ids: binary (≥ 128) without num_labels, the ids themselves with it. */
export function classMapOf(segmentation: { data: ArrayLike<number>; dims: number[] }, numLabels: number | undefined): ClassMap {
  const [height, width] = segmentation.dims;
  const src = segmentation.data;
  const ids = new Int32Array(width * height);
  for (let i = 0; i < ids.length; i++) ids[i] = numLabels === undefined ? (src[i] >= BINARY_THRESHOLD ? 1 : 0) : src[i];
  return { width, height, ids };
}

/** Binary masks as 0/255; class maps as their ids (viewable when few classes: scaled to spread the grey levels). */
export function maskImage(map: ClassMap, numLabels: number | undefined): RawImage {
  const data = new Uint8ClampedArray(map.width * map.height);
  const scale = numLabels === undefined ? 255 : numLabels <= 255 ? Math.floor(255 / Math.max(numLabels, 1)) : 1;
  for (let i = 0; i < data.length; i++) data[i] = map.ids[i] * scale;
  return new RawImage(data, map.width, map.height, 1);
}

export function overlayImage(image: RawImage, map: ClassMap, alpha = 0.55): RawImage {
  const rgb = image.channels === 3 ? image : image.rgb();
  if (rgb.width !== map.width || rgb.height !== map.height) throw new Error(`overlay: image ${rgb.width}×${rgb.height} vs mask ${map.width}×${map.height}`);
  const out = new Uint8ClampedArray(rgb.data.length);
  for (let i = 0, p = 0; i < map.ids.length; i++, p += 3) {
    const id = map.ids[i];
    if (id === 0) {
      // Dim the background a little so the tinted answer stands out.
      out[p] = rgb.data[p] * 0.7;
      out[p + 1] = rgb.data[p + 1] * 0.7;
      out[p + 2] = rgb.data[p + 2] * 0.7;
    } else {
      const tint = TINTS[(id - 1) % TINTS.length];
      out[p] = rgb.data[p] * (1 - alpha) + tint[0] * alpha;
      out[p + 1] = rgb.data[p + 1] * (1 - alpha) + tint[1] * alpha;
      out[p + 2] = rgb.data[p + 2] * (1 - alpha) + tint[2] * alpha;
    }
  }
  return new RawImage(out, rgb.width, rgb.height, 3);
}

/** Writes a PNG; 1-channel images stay 1-channel (grey) files. */
export async function savePng(image: RawImage, path: string): Promise<void> {
  if (image.channels !== 1) return image.save(path);
  await image.toSharp().toColourspace('b-w').png().toFile(path);
}

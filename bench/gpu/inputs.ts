/**
 * The one model call every row of the GPU run makes: a query and a prompt drawn procedurally (no image files, so no
 * decoder is needed on the GPU machine), put through the project's SegGPTImageProcessor with the checkpoint's
 * preprocessor_config.json, saved as .npy for the Node rows and for torch_anchor.py, plus inputs.json (call options,
 * original size, normalisation) for post-processing.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Tensor } from '@huggingface/transformers';

import { readNpy } from '../../dev/npy.js';
import { SegGPTImageProcessor } from '../../src/index.node.js';
import type { PixelBuffer } from '../../src/utils/pixel_buffer.js';
import { writeNpy } from './npy_write.js';

export interface InputsMeta {
  embedding_type: 'semantic' | 'instance';
  feature_ensemble: boolean;
  /** [height, width] of the query, for post_process_semantic_segmentation. */
  original_size: [number, number];
  image_mean: number[];
  image_std: number[];
  shape: number[];
}

type Shape = (x: number, y: number) => boolean;

function draw(width: number, height: number, background: (x: number, y: number) => [number, number, number], shapes: [Shape, [number, number, number]][]): PixelBuffer {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let rgb = background(x, y);
      for (const [inside, colour] of shapes) if (inside(x, y)) rgb = colour;
      data.set(rgb, (y * width + x) * 3);
    }
  }
  return { data, width, height, channels: 3 };
}

const disc = (cx: number, cy: number, r: number): Shape => (x, y) => (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
const box = (x0: number, y0: number, x1: number, y1: number): Shape => (x, y) => x >= x0 && x < x1 && y >= y0 && y < y1;

/** Writes pixel_values.npy, prompt_pixel_values.npy, prompt_masks.npy and inputs.json into `dir`. */
export async function writeInputs(checkpointDir: string, dir: string): Promise<InputsMeta> {
  const processor = new SegGPTImageProcessor(JSON.parse(readFileSync(join(checkpointDir, 'preprocessor_config.json'), 'utf8')));
  // A 640×480 query (resized by the processor, so post-processing resizes back) and a square prompt, both with a red
  // disc to find; the prompt mask marks the prompt's disc.
  const query = draw(640, 480, (x, y) => [40 + (x % 97), 90 + (y % 61), 160], [
    [disc(420, 200, 110), [220, 40, 30]],
    [box(60, 300, 230, 440), [30, 60, 220]],
  ]);
  const prompt = draw(448, 448, (x, y) => [120, 60 + (x % 53), 50 + (y % 71)], [
    [disc(150, 260, 90), [230, 50, 40]],
    [box(280, 40, 420, 180), [20, 80, 200]],
  ]);
  const mask = draw(448, 448, () => [0, 0, 0], [[disc(150, 260, 90), [255, 255, 255]]]);
  const out = await processor(query, { prompt_images: prompt, prompt_masks: mask });
  mkdirSync(dir, { recursive: true });
  for (const name of ['pixel_values', 'prompt_pixel_values', 'prompt_masks'] as const) {
    const t = out[name];
    writeNpy(join(dir, `${name}.npy`), t.data as Float32Array, t.dims);
  }
  const meta: InputsMeta = {
    embedding_type: 'semantic',
    feature_ensemble: false,
    original_size: [query.height, query.width],
    image_mean: [...processor.config.image_mean],
    image_std: [...processor.config.image_std],
    shape: [...out.pixel_values.dims],
  };
  writeFileSync(join(dir, 'inputs.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return meta;
}

/** The saved inputs as model inputs, with the call options. */
export function readInputs(dir: string): { inputs: Record<'pixel_values' | 'prompt_pixel_values' | 'prompt_masks', Tensor>; kwargs: { embedding_type: 'semantic' | 'instance'; feature_ensemble: boolean }; meta: InputsMeta } {
  const tensor = (name: string) => {
    const a = readNpy(join(dir, `${name}.npy`));
    return new Tensor('float32', a.data as Float32Array, a.shape);
  };
  const meta = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')) as InputsMeta;
  return {
    inputs: { pixel_values: tensor('pixel_values'), prompt_pixel_values: tensor('prompt_pixel_values'), prompt_masks: tensor('prompt_masks') },
    kwargs: { embedding_type: meta.embedding_type, feature_ensemble: meta.feature_ensemble },
    meta,
  };
}

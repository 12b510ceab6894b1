/**
 * Worker: time of SegGPTImageProcessor pre-processing (one query, one prompt image, one prompt mask → 448×448
 * tensors) and post_process_semantic_segmentation of a saved pred_masks, the images decoded beforehand.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawImage, Tensor } from '@huggingface/transformers';
import { SegGPTImageProcessor } from '../../src/index.node.js';
import { readNpy } from '../../dev/npy.js';
import { median } from '../stats.js';
import { emitResult, runWorkerMain, workerArgs } from '../worker_io.js';

export interface PrePostArgs {
  /** Folder with image_0.png, prompt_image_0.png, prompt_mask_0.png. */
  images_dir: string;
  /** preprocessor_config.json contents. */
  preprocessor: object;
  /** The processor's expected pixel_values (.npy) for these images, to prove the timed call does the real work. */
  expected_pixel_values: string;
  /** Raw float32 pred_masks and its dims. */
  pred_path: string;
  pred_dims: number[];
  runs: number;
}

export interface PrePostMeasurement {
  preprocess_seconds: number;
  postprocess_seconds: number;
  pixel_values_max_abs: number;
  /** [height, width] of the query and the prompt image before resizing. */
  query_size: [number, number];
  prompt_size: [number, number];
}

runWorkerMain(async () => {
  const args = workerArgs<PrePostArgs>();
  const processor = new SegGPTImageProcessor(args.preprocessor);
  const [image, prompt, mask] = await Promise.all(
    ['image_0.png', 'prompt_image_0.png', 'prompt_mask_0.png'].map((file) => RawImage.read(join(args.images_dir, file))),
  );
  const bytes = readFileSync(args.pred_path);
  const pred_masks = new Tensor('float32', new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)), args.pred_dims);

  const pre: number[] = [];
  const post: number[] = [];
  let inputs: Awaited<ReturnType<SegGPTImageProcessor['preprocess']>> | undefined;
  for (let i = 0; i <= args.runs; i++) {
    let started = performance.now();
    inputs = await processor(image, { prompt_images: prompt, prompt_masks: mask });
    const preSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    processor.post_process_semantic_segmentation({ pred_masks }, inputs.original_sizes);
    const postSeconds = (performance.now() - started) / 1000;
    if (i > 0) {
      // call 0 is the warm-up (JIT)
      pre.push(preSeconds);
      post.push(postSeconds);
    }
  }
  const expected = readNpy(args.expected_pixel_values).data as Float32Array;
  const actual = inputs!.pixel_values.data as Float32Array;
  let pixel_values_max_abs = actual.length === expected.length ? 0 : Infinity;
  for (let i = 0; i < Math.min(actual.length, expected.length); i++) {
    pixel_values_max_abs = Math.max(pixel_values_max_abs, Math.abs(actual[i] - expected[i]));
  }
  emitResult({
    preprocess_seconds: median(pre),
    postprocess_seconds: median(post),
    pixel_values_max_abs,
    query_size: [image.height, image.width],
    prompt_size: [prompt.height, prompt.width],
  } satisfies PrePostMeasurement);
});

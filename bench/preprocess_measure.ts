/**
 * The measurement of `npm run bench:preprocess`, shared by Node (bench/preprocess.ts) and the Chromium page
 * (bench/browser/preprocess_page.ts) so both time exactly the same calls on the same bytes.
 *
 * Inputs are built in memory (decoding is not timed, as in Pillow's figure): a query and a prompt image of random
 * RGB bytes (resampling time does not depend on the content) and a 1-channel 0/255 prompt mask (left half
 * background, right half object), the binary single-prompt call of the q8 session benchmark. One timed
 * preprocess = `processor(query, { prompt_images, prompt_masks })` → three [1, 3, 448, 448] tensors; one timed
 * postprocess = `post_process_semantic_segmentation` of a fixed pred_masks back to the query's size.
 */
import { Tensor } from '@huggingface/transformers';
import type { SegGPTImageProcessor } from '../src/processors/image_processing_seggpt.js';
import type { PixelBuffer } from '../src/utils/pixel_buffer.js';

export interface PrePostTiming {
  width: number;
  height: number;
  runs: number;
  /** Medians and minima of the timed calls (after untimed warm-up calls), wall time. */
  preprocess_seconds: number;
  preprocess_min_seconds: number;
  postprocess_seconds: number;
  postprocess_min_seconds: number;
  /** Median CPU time of this process per call, where the runtime tells it (Node). */
  preprocess_cpu_seconds?: number;
  postprocess_cpu_seconds?: number;
  /** FNV-1a of the three input tensors' bytes and of the segmentation: equal results give equal checksums. */
  checksum: string;
  /** The resampling implementation that ran (pillow_resample.ts). */
  kernel: string;
}

/** xorshift32 bytes: fast, and the same in every runtime. */
function randomBytes(count: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(count / 4));
  let s = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    words[i] = s;
  }
  return new Uint8Array(words.buffer, 0, count);
}

export function syntheticInputs(width: number, height: number): { query: PixelBuffer; prompt: PixelBuffer; mask: PixelBuffer } {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) mask.fill(255, y * width + (width >> 1), (y + 1) * width);
  return {
    query: { data: randomBytes(width * height * 3, 1 + width), width, height, channels: 3 },
    prompt: { data: randomBytes(width * height * 3, 2 + height), width, height, channels: 3 },
    mask: { data: mask, width, height, channels: 1 },
  };
}

/** A fixed pred_masks [1, 3, 896, 448] (normalised space) whose lower half post-processes to varied grey levels. */
export function syntheticPredMasks(): Tensor {
  const [h, w] = [896, 448];
  const data = new Float32Array(3 * h * w);
  for (let c = 0; c < 3; c++) for (let i = 0; i < h * w; i++) data[c * h * w + i] = Math.sin(i * 0.001 + c) * 2;
  return new Tensor('float32', data, [1, 3, h, w]);
}

function fnv(hash: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 16777619) >>> 0;
  return hash;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Untimed calls first: the JIT needs a few before the small loops (the 448×448 grids) run optimised. */
const WARMUPS = 3;

/**
 * Times `runs` preprocess + postprocess calls at width × height after WARMUPS untimed calls. `cpuSeconds`, where
 * given, reads this process's CPU time.
 */
export async function measurePrePost(
  processor: SegGPTImageProcessor,
  width: number,
  height: number,
  runs: number,
  kernel: string,
  cpuSeconds?: () => number,
): Promise<PrePostTiming> {
  const { query, prompt, mask } = syntheticInputs(width, height);
  const pred_masks = syntheticPredMasks();
  const pre: number[] = [];
  const post: number[] = [];
  const preCpu: number[] = [];
  const postCpu: number[] = [];
  let checksum = '';
  for (let i = 0; i < WARMUPS + runs; i++) {
    let cpu = cpuSeconds?.() ?? 0;
    let started = performance.now();
    const inputs = await processor(query, { prompt_images: prompt, prompt_masks: mask });
    const preSeconds = (performance.now() - started) / 1000;
    const preCpuSeconds = (cpuSeconds?.() ?? 0) - cpu;
    cpu = cpuSeconds?.() ?? 0;
    started = performance.now();
    const [result] = processor.post_process_semantic_segmentation({ pred_masks }, inputs.original_sizes);
    const postSeconds = (performance.now() - started) / 1000;
    const postCpuSeconds = (cpuSeconds?.() ?? 0) - cpu;
    if (i < WARMUPS) {
      if (i > 0) continue;
      let hash = 2166136261;
      for (const t of [inputs.pixel_values, inputs.prompt_pixel_values, inputs.prompt_masks, result.segmentation]) {
        hash = fnv(hash, bytesOf(t.data as Float32Array | Int32Array));
      }
      checksum = hash.toString(16).padStart(8, '0');
      continue;
    }
    pre.push(preSeconds);
    post.push(postSeconds);
    preCpu.push(preCpuSeconds);
    postCpu.push(postCpuSeconds);
  }
  return {
    width,
    height,
    runs,
    preprocess_seconds: median(pre),
    preprocess_min_seconds: Math.min(...pre),
    postprocess_seconds: median(post),
    postprocess_min_seconds: Math.min(...post),
    ...(cpuSeconds ? { preprocess_cpu_seconds: median(preCpu), postprocess_cpu_seconds: median(postCpu) } : {}),
    checksum,
    kernel,
  };
}

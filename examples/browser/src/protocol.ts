/**
 * Messages between the page and the SegGPT worker (worker.ts). The page never runs the model itself, so it stays
 * responsive while a frame or an image is segmented. Pixel buffers travel as transferred ArrayBuffers.
 */
import type { PixelBuffer } from './seggpt.js';

export type EmbeddingType = 'semantic' | 'instance';

export interface ModelChoice {
  /** A folder name under dist/models/ (e.g. 'seggpt-shapes') or a Hugging Face repo id (converted on first use). */
  model: string;
  device: 'wasm' | 'webgpu';
  /** fp32, fp16, q8, int8, uint8, q4, q4f16: which onnx/model*.onnx to load. */
  dtype: string;
}

/** What a segmentation needs besides the image: the prompts and the options of SegGPTSegmenter. */
export interface SegmentSettings {
  prompts: { image: PixelBuffer; mask: PixelBuffer }[];
  /** null: the model's default (instance). */
  embedding_type: EmbeddingType | null;
  /** null: on for several prompts. */
  feature_ensemble: boolean | null;
  /** Grey level / 255 above which a pixel is the object. */
  threshold: number;
}

/** One answer, as SegGPTSegmenter gives it (binary: ids 1 = the object). */
export interface FrameResult {
  width: number;
  height: number;
  ids: Int32Array;
  /** Predicted grey levels 0–255 before the threshold. */
  levels: Int32Array;
  prompts: number;
  feature_ensemble: boolean;
  run_seconds: number;
}

export type ToWorker =
  /** numThreads: ONNX Runtime Web's WebAssembly threads; null lets the worker choose (see worker.ts). */
  | { id: number; type: 'configure'; localModelPath: string; wasmPaths: string; numThreads: number | null }
  | { id: number; type: 'load'; choice: ModelChoice }
  | { id: number; type: 'segment'; query: PixelBuffer; settings: SegmentSettings }
  | { id: number; type: 'video-start'; settings: SegmentSettings; memory: number }
  | { id: number; type: 'video-frame'; frame: PixelBuffer }
  | { id: number; type: 'video-end' }
  | { id: number; type: 'run-model'; inputs: Record<'pixel_values' | 'prompt_pixel_values' | 'prompt_masks', { dims: number[]; data: Float32Array }>; embedding_type: EmbeddingType | null; feature_ensemble: boolean | null }
  | { id: number; type: 'abort' };

export type FromWorker =
  | { id: number; type: 'progress'; message: string }
  | { id: number; type: 'done'; value?: unknown }
  | { id: number; type: 'frame'; result: FrameResult }
  | { id: number; type: 'error'; error: { name: string; message: string } };

/** The answer to 'configure': the threads ONNX Runtime Web will use, and whether it can use more than one. */
export interface WorkerSetup {
  numThreads: number;
  crossOriginIsolated: boolean;
  hardwareConcurrency: number;
}

/** The buffers of pixel data to transfer with a message (the sender's copies become empty). */
export function transferables(...buffers: { data: ArrayBufferView }[]): ArrayBuffer[] {
  return buffers.map((b) => b.data.buffer as ArrayBuffer).filter((buffer, i, all) => all.indexOf(buffer) === i);
}

/**
 * `window.seggptDemo`: a small API for automated tests (and the curious, from the console). Arrays travel as base64
 * of their little-endian bytes so they cross `page.evaluate` exactly and quickly.
 */
import type { DemoApp, RunSettings } from './app.js';
import { base64ToFloat32, bytesToBase64 } from './base64.js';
import type { EmbeddingType, ModelChoice, WorkerSetup } from './runner.js';
import { imageSequence } from './video.js';

export interface EncodedTensor {
  dims: number[];
  /** base64 of the float32 values */
  data: string;
}

export interface RunModelRequest extends ModelChoice {
  inputs: { pixel_values: EncodedTensor; prompt_pixel_values: EncodedTensor; prompt_masks: EncodedTensor };
  embedding_type?: EmbeddingType;
  feature_ensemble?: boolean;
}

export type Failure = { ok: false; error: { name: string; message: string } };

export type RunModelResult = { ok: true; pred_masks: EncodedTensor; run_seconds: number } | Failure;

export interface RunCaseRequest extends RunSettings {
  /** An example task to load first (e.g. 'ex3'); without it the inputs on the page are used. */
  example?: string;
}

export type RunCaseResult =
  | {
      ok: true;
      width: number;
      height: number;
      /** base64 of the post-processed values (uint8, 0–255) */
      segmentation: string;
      /** base64 of the 0/1 mask (uint8) */
      mask: string;
      run_seconds: number;
      iou_target: number | null;
    }
  | Failure;

export interface RunVideoRequest extends RunCaseRequest {
  /** Frame image URLs, in order. The prompts are the page's (e.g. those of `example`). */
  frames: string[];
  /** Abort the run after this many frames (the Stop button). */
  stop_after?: number;
}

export type RunVideoResult =
  | {
      ok: true;
      /** Per frame: base64 of the 0/1 mask, and how many prompts it used. */
      frames: { width: number; height: number; mask: string; prompts: number; run_seconds: number }[];
      longest_main_thread_task_ms: number;
    }
  | Failure;

export interface SeggptDemoHook {
  /** Resolves once the page has loaded its examples and the first one. */
  ready: Promise<void>;
  /** The full page path, exactly like pressing Run: processor → model → post-processing → overlay. */
  runCase(request: RunCaseRequest): Promise<RunCaseResult>;
  /** Video mode, exactly like choosing frames and pressing Run video. */
  runVideo(request: RunVideoRequest): Promise<RunVideoResult>;
  /** The model class alone on given processor outputs (e.g. a fixture's stored arrays). */
  runModel(request: RunModelRequest): Promise<RunModelResult>;
  /** WebGPU adapter features, or null when the browser offers no adapter. */
  webgpuFeatures(): Promise<string[] | null>;
  /** The model worker's ONNX Runtime Web threads (`?threads=N` in the page URL, else chosen from the core count). */
  workerSetup(): Promise<WorkerSetup>;
}

function failure(error: unknown): Failure {
  return {
    ok: false,
    error: { name: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) },
  };
}

export function installTestHook(app: DemoApp, ready: Promise<void>): SeggptDemoHook {
  const hook: SeggptDemoHook = {
    ready,

    async runCase(request) {
      try {
        await ready;
        if (request.example) await app.loadExample(request.example);
        app.applySettings(request);
      } catch (error) {
        return failure(error);
      }
      const outcome = await app.run();
      if (!outcome.ok) return outcome;
      return {
        ok: true,
        width: outcome.width,
        height: outcome.height,
        segmentation: bytesToBase64(Uint8Array.from(outcome.segmentation)),
        mask: bytesToBase64(outcome.mask),
        run_seconds: outcome.run_seconds,
        iou_target: outcome.iou_target,
      };
    },

    async runVideo(request) {
      try {
        await ready;
        if (request.example) await app.loadExample(request.example);
        app.applySettings(request);
      } catch (error) {
        return failure(error);
      }
      const source = imageSequence(request.frames);
      const stopAfter = request.stop_after;
      const limited = stopAfter === undefined ? source : {
        ...source,
        async *frames() {
          let n = 0;
          for await (const frame of source.frames()) {
            if (n++ === stopAfter) {
              (document.getElementById('stop-video') as HTMLButtonElement).click();
            }
            yield frame;
          }
        },
      };
      const outcome = await app.runVideo(limited);
      if (!outcome.ok) return outcome;
      return {
        ok: true,
        frames: outcome.frames.map((f) => ({ width: f.width, height: f.height, mask: bytesToBase64(f.mask), prompts: f.prompts, run_seconds: f.run_seconds })),
        longest_main_thread_task_ms: outcome.longest_main_thread_task_ms,
      };
    },

    async runModel(request) {
      try {
        await ready;
        await app.segmentationWorker.load({ model: request.model, device: request.device, dtype: request.dtype });
        const tensor = (t: EncodedTensor) => ({ dims: t.dims, data: base64ToFloat32(t.data) });
        const { dims, data, run_seconds } = await app.segmentationWorker.runModel({
          inputs: {
            pixel_values: tensor(request.inputs.pixel_values),
            prompt_pixel_values: tensor(request.inputs.prompt_pixel_values),
            prompt_masks: tensor(request.inputs.prompt_masks),
          },
          embedding_type: request.embedding_type ?? null,
          feature_ensemble: request.feature_ensemble ?? null,
        });
        return { ok: true, pred_masks: { dims, data: bytesToBase64(data) }, run_seconds };
      } catch (error) {
        return failure(error);
      }
    },

    async webgpuFeatures() {
      const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<{ features: Set<string> } | null> } }).gpu;
      const adapter = gpu ? await gpu.requestAdapter() : null;
      return adapter ? [...adapter.features].sort() : null;
    },

    workerSetup() {
      return app.segmentationWorker.ready;
    },
  };
  (window as unknown as { seggptDemo: SeggptDemoHook }).seggptDemo = hook;
  return hook;
}

/**
 * Creating and running SegGPT's single ONNX session through Transformers.js.
 *
 * Loading goes through `PreTrainedModel.from_pretrained` itself (the one class Transformers.js registers as a plain
 * single-session encoder), so file naming by dtype, device selection, external data, session_options, caching and
 * progress events are the library's own.
 */
import { ModelFileNotFoundError, PreTrainedModel, Tensor, type PretrainedModelOptions } from '@huggingface/transformers';
import type { Tensor as OrtTensor } from 'onnxruntime-common';

import type { SegGPTConfig } from '../configs/seggpt_config.js';
import { BackendError, CheckpointError } from '../errors.js';
import { describeLoadFailure } from '../loading/load_errors.js';
import { loadSessions, type SegGPTPretrainedOptions, type SegGPTSessions } from '../loading/load_sessions.js';
import { explainBackendError } from '../utils/backend_errors.js';

export type { SegGPTSessions } from '../loading/load_sessions.js';

/** The ONNX Runtime session as Transformers.js keeps it in `model.sessions.model`. */
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, unknown>>;
}

/**
 * The model's ONNX session, from a converted repo or folder, or from a Hugging Face checkpoint converted on first use
 * (src/loading/load_sessions.ts). Failures become typed errors naming the model, the host and the fix.
 */
export async function loadSegGPTSessions(
  pretrained_model_name_or_path: string,
  options: SegGPTPretrainedOptions,
  config: SegGPTConfig,
): Promise<SegGPTSessions> {
  try {
    return await loadSessions(pretrained_model_name_or_path, options, config, createSessions);
  } catch (error) {
    throw describeLoadFailure(describeMissingOnnx(pretrained_model_name_or_path, options, error), {
      id: pretrained_model_name_or_path,
      revision: options.revision,
      local_files_only: options.local_files_only,
      device: options.device,
      dtype: options.dtype,
    });
  }
}

/** One session through `PreTrainedModel.from_pretrained`, with this package's session defaults. */
async function createSessions(id: string, options: PretrainedModelOptions): Promise<SegGPTSessions> {
  // onnxruntime's memory-pattern planner pre-allocates the whole run's peak at once; SegGPT's attention maps make
  // that peak large (ViT-L: 3.3 → 2.6 GB fp32, 2.2 → 1.5 GB q8) for no speed gain. Callers can still turn it on.
  const session_options = { enableMemPattern: false, ...(options.session_options ?? {}) };
  const base = await PreTrainedModel.from_pretrained(id, { ...options, session_options });
  return { sessions: base.sessions, configs: base.configs ?? {} };
}

/** A converted repo without the requested variant: say which file is missing and how to get it. */
function describeMissingOnnx(id: string, options: PretrainedModelOptions, error: unknown): unknown {
  const message = error instanceof Error ? error.message : String(error);
  if (!(error instanceof ModelFileNotFoundError) || !/\.onnx/.test(message) || /local_files_only|allowRemoteModels/.test(message)) return error;
  const file = `${options.subfolder ?? 'onnx'}/${options.model_file_name ?? 'model'}*.onnx`;
  return new CheckpointError(
    `SegGPT: ${id}: ${message}. A converted SegGPT model folder holds config.json, preprocessor_config.json and ${file} ` +
      '(one file per dtype); convert the Hugging Face checkpoint with `seggpt convert`, or choose a dtype that was converted',
    { cause: error },
  );
}

function sessionOf(model: PreTrainedModel): OrtSession {
  const session = model.sessions?.model as OrtSession | undefined;
  if (!session) throw new BackendError('SegGPT: this model has no ONNX session (was it disposed?); load it again with from_pretrained');
  return session;
}

export function sessionInputNames(model: PreTrainedModel): readonly string[] {
  return sessionOf(model).inputNames;
}

// Transformers.js chains every session run in web runtimes (one WASM/WebGPU run at a time) through a private
// promise; only its own run path joins that chain. Node runs concurrently, so there we call ONNX Runtime directly.
const IS_NODE = typeof process !== 'undefined' && process.release?.name === 'node';

/**
 * Runs the session and returns only `outputs`. In Node the fetch list is passed to ONNX Runtime, so other outputs are
 * never copied out; elsewhere the library's own run path is used (`viaLibrary` forces it, e.g. for tests).
 */
export async function runSegGPTSession(
  model: PreTrainedModel,
  feeds: Record<string, Tensor>,
  outputs: readonly string[],
  { viaLibrary = !IS_NODE }: { viaLibrary?: boolean } = {},
): Promise<Record<string, Tensor>> {
  const session = sessionOf(model);
  const missing = outputs.filter((name) => !session.outputNames.includes(name));
  if (missing.length > 0) {
    throw new BackendError(
      `SegGPT: the ONNX model has no output ${missing.join(', ')} (it has ${session.outputNames.join(', ')}); re-convert the checkpoint with \`seggpt convert\``,
    );
  }
  let result: Record<string, unknown>;
  try {
    if (viaLibrary) {
      // encoder_forward: feeds session.inputNames, runs through the library's (web-serialised) path.
      result = await (model as unknown as { _forward(self: unknown, inputs: unknown): Promise<Record<string, unknown>> })._forward(model, feeds);
    } else {
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([name, tensor]) => [name, tensor.ort_tensor]));
      result = await session.run(ortFeeds, outputs);
    }
  } catch (error) {
    throw (
      explainBackendError(error) ??
      new BackendError(`SegGPT: ONNX Runtime failed to run the model: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    );
  }
  const picked: Record<string, Tensor> = {};
  for (const name of outputs) {
    const value = result[name];
    picked[name] = value instanceof Tensor ? value : new Tensor(value as OrtTensor);
  }
  return picked;
}

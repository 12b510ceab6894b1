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
import { explainBackendError } from '../utils/backend_errors.js';

/** The ONNX Runtime session as Transformers.js keeps it in `model.sessions.model`. */
interface OrtSession {
  inputNames: readonly string[];
  outputNames: readonly string[];
  run(feeds: Record<string, unknown>, fetches?: readonly string[]): Promise<Record<string, unknown>>;
}

export interface SegGPTSessions {
  sessions: Record<string, unknown>;
  configs: Record<string, unknown>;
}

export async function loadSegGPTSessions(
  pretrained_model_name_or_path: string,
  options: PretrainedModelOptions,
  config: SegGPTConfig,
): Promise<SegGPTSessions> {
  // onnxruntime's memory-pattern planner pre-allocates the whole run's peak at once; SegGPT's attention maps make
  // that peak large (ViT-L: 3.3 → 2.6 GB fp32, 2.2 → 1.5 GB q8) for no speed gain. Callers can still turn it on.
  const session_options = { enableMemPattern: false, ...(options.session_options ?? {}) };
  try {
    const base = await PreTrainedModel.from_pretrained(pretrained_model_name_or_path, { ...options, session_options, config });
    return { sessions: base.sessions, configs: base.configs ?? {} };
  } catch (error) {
    throw describeLoadError(pretrained_model_name_or_path, options, error);
  }
}

function describeLoadError(id: string, options: PretrainedModelOptions, error: unknown): Error {
  const explained = explainBackendError(error, { device: options.device as string | undefined, dtype: options.dtype as string | undefined, model: id });
  if (explained) return explained;
  const message = error instanceof Error ? error.message : String(error);
  const file = `${options.subfolder ?? 'onnx'}/${options.model_file_name ?? 'model'}*.onnx`;
  if (error instanceof ModelFileNotFoundError || /could not locate file|not found|no such file|ENOENT|Local file missing/i.test(message)) {
    return new CheckpointError(
      `SegGPT: ${id}: ${message}. A converted SegGPT model folder holds config.json, preprocessor_config.json and ${file} ` +
        '(one file per dtype); convert the Hugging Face checkpoint with `seggpt convert`, or choose a dtype that was converted',
      { cause: error },
    );
  }
  if (/unsupported device|invalid dtype|does not support|execution provider|backend/i.test(message)) {
    return new BackendError(`SegGPT: ${id}: ${message}; pick another device/dtype (e.g. device: 'cpu', dtype: 'fp32')`, { cause: error });
  }
  return new BackendError(`SegGPT: could not create the ONNX Runtime session for ${id} (${file}): ${message}`, { cause: error });
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

/**
 * Checks the arguments of a SegGPT model call and turns them into ONNX feeds.
 *
 * ONNX contract (written by conversion/): float32 `pixel_values`, `prompt_pixel_values`, `prompt_masks`
 * [batch, 3, h, w]; int64 `embedding_type` [1] (0 = semantic, 1 = instance); bool `feature_ensemble` [1].
 */
import { Tensor } from '@huggingface/transformers';

import type { SegGPTConfig } from '../configs/seggpt_config.js';
import { segGPTGeometry } from '../configs/seggpt_config_fields.js';
import { BackendError, InputError } from '../errors.js';

export const SEGGPT_EMBEDDING_TYPES = ['semantic', 'instance'] as const;
export type SegGPTEmbeddingType = (typeof SEGGPT_EMBEDDING_TYPES)[number];

export const SEGGPT_IMAGE_INPUTS = ['pixel_values', 'prompt_pixel_values', 'prompt_masks'] as const;
export const SEGGPT_INPUT_NAMES = [...SEGGPT_IMAGE_INPUTS, 'embedding_type', 'feature_ensemble'] as const;

/** What a SegGPT model is called with: the processor's output (extra keys such as original_sizes are ignored). */
export interface SegGPTModelInputs {
  pixel_values: Tensor;
  prompt_pixel_values: Tensor;
  prompt_masks: Tensor;
  embedding_type?: SegGPTEmbeddingType | null;
  feature_ensemble?: boolean | null;
  [key: string]: unknown;
}

/** HF keyword arguments of `SegGptForImageSegmentation.forward`; they win over the same keys in the inputs. */
export interface SegGPTForwardOptions {
  /** Which type token to add: 'semantic' or 'instance' (HF default when unset: 'instance'). */
  embedding_type?: SegGPTEmbeddingType | null;
  /** Average the query half over the prompts (few-shot); HF default false. */
  feature_ensemble?: boolean | null;
}

export function checkEmbeddingType(value: unknown): SegGPTEmbeddingType | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' && (SEGGPT_EMBEDDING_TYPES as readonly string[]).includes(value)) {
    return value as SegGPTEmbeddingType;
  }
  throw new InputError(`SegGPT: embedding_type ${JSON.stringify(value)} is not supported; use 'semantic' or 'instance' (or leave it unset)`);
}

export function checkFeatureEnsemble(value: unknown): boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'boolean') return value;
  throw new InputError(`SegGPT: feature_ensemble must be true or false (got ${JSON.stringify(value)})`);
}

/** [height, width] of one prompt or query image, as the checkpoint's config fixes it. */
export function expectedImageSize(config: SegGPTConfig): [number, number] {
  const { image_height, image_width } = segGPTGeometry(config);
  return [image_height, image_width];
}

/** Validates the three image tensors and returns them with the batch size. */
export function checkImageTensors(inputs: unknown, config: SegGPTConfig): { tensors: Record<(typeof SEGGPT_IMAGE_INPUTS)[number], Tensor>; batch: number } {
  if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
    throw new InputError(
      'SegGPT: the model takes one object { pixel_values, prompt_pixel_values, prompt_masks } (the SegGPTImageProcessor output)',
    );
  }
  const record = inputs as Record<string, unknown>;
  const [height, width] = expectedImageSize(config);
  const tensors = {} as Record<(typeof SEGGPT_IMAGE_INPUTS)[number], Tensor>;
  let batch = -1;
  for (const name of SEGGPT_IMAGE_INPUTS) {
    const value = record[name];
    if (!(value instanceof Tensor)) {
      throw new InputError(
        `SegGPT: ${name} is ${value === undefined ? 'missing' : 'not a Tensor'}; pass the SegGPTImageProcessor output (pixel_values, prompt_pixel_values, prompt_masks)`,
      );
    }
    if (value.type !== 'float32') {
      throw new InputError(`SegGPT: ${name} is a ${value.type} tensor; the model takes float32 (convert with tensor.to('float32'))`);
    }
    const dims = value.dims;
    if (dims.length !== 4 || dims[0] < 1 || dims[1] !== 3 || dims[2] !== height || dims[3] !== width) {
      throw new InputError(
        `SegGPT: ${name} has shape [${dims.join(', ')}] but this checkpoint takes [batch, 3, ${height}, ${width}] (config image_size ` +
          `[${config.image_size.join(', ')}] = prompt over query); preprocess with the checkpoint's SegGPTImageProcessor`,
      );
    }
    if (batch === -1) batch = dims[0];
    else if (dims[0] !== batch) {
      throw new InputError(
        `SegGPT: ${name} holds ${dims[0]} items but pixel_values holds ${batch}; pass one prompt image and one prompt mask per query image`,
      );
    }
    tensors[name] = value;
  }
  return { tensors, batch };
}

/** Feeds exactly the inputs the ONNX session declares; an input outside the contract means a foreign model file. */
export function buildFeeds(
  inputNames: readonly string[],
  tensors: Record<(typeof SEGGPT_IMAGE_INPUTS)[number], Tensor>,
  embeddingType: SegGPTEmbeddingType,
  featureEnsemble: boolean,
): Record<string, Tensor> {
  const feeds: Record<string, Tensor> = {};
  for (const name of inputNames) {
    switch (name) {
      case 'pixel_values':
      case 'prompt_pixel_values':
      case 'prompt_masks':
        feeds[name] = tensors[name];
        break;
      case 'embedding_type':
        feeds[name] = new Tensor('int64', BigInt64Array.of(embeddingType === 'instance' ? 1n : 0n), [1]);
        break;
      case 'feature_ensemble':
        feeds[name] = new Tensor('bool', Uint8Array.of(featureEnsemble ? 1 : 0), [1]);
        break;
      default:
        throw new BackendError(
          `SegGPT: the ONNX model asks for an input "${name}" that SegGPT does not have (expected ${SEGGPT_INPUT_NAMES.join(', ')}); ` +
            're-convert the checkpoint with `seggpt convert`',
        );
    }
  }
  return feeds;
}

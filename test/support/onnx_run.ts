import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { readNpy } from '../../dev/npy.js';
import type { TinyCase } from './fixtures.js';

export interface CaseInputs {
  pixel_values: ort.Tensor;
  prompt_pixel_values: ort.Tensor;
  prompt_masks: ort.Tensor;
  embedding_type: ort.Tensor;
  feature_ensemble: ort.Tensor;
}

/** The stored processor arrays of a fixture case and its model kwargs, as ONNX feeds. */
export function caseFeeds(dir: string, kwargs: { embedding_type?: string; feature_ensemble?: boolean }): CaseInputs {
  const tensor = (file: string) => {
    const a = readNpy(join(dir, file));
    return new ort.Tensor('float32', a.data as Float32Array, a.shape);
  };
  // The reference's default embedding type (None) is instance.
  const type = kwargs.embedding_type === 'semantic' ? 0n : 1n;
  return {
    pixel_values: tensor('pixel_values.npy'),
    prompt_pixel_values: tensor('prompt_pixel_values.npy'),
    prompt_masks: tensor('prompt_masks.npy'),
    embedding_type: new ort.Tensor('int64', BigInt64Array.of(type), [1]),
    feature_ensemble: new ort.Tensor('bool', Uint8Array.of(kwargs.feature_ensemble ? 1 : 0), [1]),
  };
}

export function tinyCaseFeeds(c: TinyCase): CaseInputs {
  return caseFeeds(c.dir, c.json.model_call.kwargs);
}

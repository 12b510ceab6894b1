import { join } from 'node:path';

import { Tensor } from '@huggingface/transformers';

import type { SegGPTForwardOptions } from '../../src/index.node.js';
import type { TinyCase } from './fixtures.js';
import { readNpy } from '../../dev/npy.js';

/** The three processor arrays a fixture case stored, as model inputs. */
export function tinyCaseInputs(c: TinyCase): { pixel_values: Tensor; prompt_pixel_values: Tensor; prompt_masks: Tensor } {
  const tensor = (name: string) => {
    const a = readNpy(join(c.dir, `${name}.npy`));
    return new Tensor('float32', a.data as Float32Array, a.shape);
  };
  return { pixel_values: tensor('pixel_values'), prompt_pixel_values: tensor('prompt_pixel_values'), prompt_masks: tensor('prompt_masks') };
}

/** The model keyword arguments the reference used for the case (embedding_type, feature_ensemble). */
export function tinyCaseKwargs(c: TinyCase): SegGPTForwardOptions {
  const kwargs = c.json.model_call.kwargs as { embedding_type?: 'semantic' | 'instance'; feature_ensemble?: boolean };
  return { embedding_type: kwargs.embedding_type ?? null, feature_ensemble: kwargs.feature_ensemble ?? null };
}

/** Intersection over union of two 0/1 (or boolean-like) masks; 1 when both are empty. */
export function maskIoU(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`mask sizes differ: ${a.length} vs ${b.length}`);
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0;
    const y = b[i] ? 1 : 0;
    inter += x & y;
    union += x | y;
  }
  return union === 0 ? 1 : inter / union;
}

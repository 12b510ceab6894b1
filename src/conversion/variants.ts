/**
 * The precision variants the converter writes, named and laid out as Transformers.js expects
 * (`dtype` option → `onnx/model<suffix>.onnx`).
 */
import { InputError } from '../errors.js';
import { makePlan, type WeightPlan } from './weight_plan.js';

export interface Variant {
  dtype: string;
  /** File name inside onnx/ */
  file: string;
  plan: WeightPlan;
}

function variant(dtype: string, file: string, activations: 'fp32' | 'fp16', linear: 'float' | 'int8' | 'uint8' | 'q4'): Variant {
  return { dtype, file, plan: makePlan({ dtype, activations, linear }) };
}

// q8 is Transformers.js's 8-bit default (its WASM default): int8 weights with uint8 activations (U8S8), the
// fastest integer kernels (VNNI, ARM dot products, WASM SIMD); the same graph as int8. uint8 (U8U8) avoids the
// 16-bit saturation that U8S8 can hit on x86 CPUs with AVX2 but without VNNI, at about half the speed.
const VARIANTS: Record<string, Variant> = {
  fp32: variant('fp32', 'model.onnx', 'fp32', 'float'),
  fp16: variant('fp16', 'model_fp16.onnx', 'fp16', 'float'),
  q8: variant('q8', 'model_quantized.onnx', 'fp32', 'int8'),
  int8: variant('int8', 'model_int8.onnx', 'fp32', 'int8'),
  uint8: variant('uint8', 'model_uint8.onnx', 'fp32', 'uint8'),
  q4: variant('q4', 'model_q4.onnx', 'fp32', 'q4'),
  q4f16: variant('q4f16', 'model_q4f16.onnx', 'fp16', 'q4'),
};

export const SUPPORTED_DTYPES = Object.keys(VARIANTS);

/** Parses `fp32,fp16` / `all` / an array into known variants, in a stable order. */
export function resolveVariants(dtypes: string | readonly string[] | undefined): Variant[] {
  const list = (typeof dtypes === 'string' ? dtypes.split(',') : dtypes ?? ['fp32']).map((d) => d.trim()).filter(Boolean);
  if (list.length === 0) throw new InputError(`no dtype given: use one or more of ${SUPPORTED_DTYPES.join(', ')} (or all)`);
  const wanted = new Set<string>();
  for (const d of list) {
    if (d === 'all') SUPPORTED_DTYPES.forEach((x) => wanted.add(x));
    else if (VARIANTS[d]) wanted.add(d);
    else throw new InputError(`unknown dtype "${d}": use one or more of ${SUPPORTED_DTYPES.join(', ')} (or all)`);
  }
  return SUPPORTED_DTYPES.filter((d) => wanted.has(d)).map((d) => VARIANTS[d]);
}

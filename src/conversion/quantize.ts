/**
 * Weight quantisation for the 8-bit and 4-bit variants, done one tensor at a time while the model
 * streams to disk. Input weights are the checkpoint's Linear layout [out, in] (row n = output n).
 */

export interface Quantized8 {
  /** [in, out] row-major, as MatMulInteger's B */
  data: Int8Array | Uint8Array;
  /** one scale per output column */
  scales: Float32Array;
  /** one zero point per output column (uint8 only) */
  zeroPoints?: Uint8Array;
}

/**
 * Per-output-channel 8-bit weights. int8: symmetric, zero point 0, q ∈ [−127, 127].
 * uint8: asymmetric over [min(w, 0), max(w, 0)], q ∈ [0, 255] (the range always holds 0 exactly,
 * as onnxruntime's quantiser requires).
 */
export function quantizePerChannel8(w: Float32Array, out: number, inFeatures: number, kind: 'int8' | 'uint8'): Quantized8 {
  const scales = new Float32Array(out);
  const zeroPoints = kind === 'uint8' ? new Uint8Array(out) : undefined;
  const data = kind === 'int8' ? new Int8Array(out * inFeatures) : new Uint8Array(out * inFeatures);
  for (let n = 0; n < out; n++) {
    const row = n * inFeatures;
    let lo = 0;
    let hi = 0;
    for (let k = 0; k < inFeatures; k++) {
      const v = w[row + k];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (kind === 'int8') {
      const scale = Math.max(-lo, hi) / 127 || 1;
      scales[n] = scale;
      const inv = 1 / Math.fround(scale);
      for (let k = 0; k < inFeatures; k++) data[k * out + n] = clamp(Math.round(w[row + k] * inv), -127, 127);
    } else {
      const scale = (hi - lo) / 255 || 1;
      scales[n] = scale;
      const zp = clamp(Math.round(-lo / Math.fround(scale)), 0, 255);
      zeroPoints![n] = zp;
      const inv = 1 / Math.fround(scale);
      for (let k = 0; k < inFeatures; k++) data[k * out + n] = clamp(Math.round(w[row + k] * inv) + zp, 0, 255);
    }
  }
  return { data, scales, zeroPoints };
}

export interface Quantized4 {
  /** [N, blocks, blockSize / 2]: two 4-bit values per byte, the even element in the low nibble */
  packed: Uint8Array;
  /** [N, blocks] */
  scales: Float32Array;
  /** [N, ceil(blocks / 2)]: two 4-bit zero points per byte, the even block in the low nibble */
  zeroPoints: Uint8Array;
  blocks: number;
}

/**
 * MatMulNBits layout (com.microsoft): 4-bit asymmetric blocks of `blockSize` input elements per
 * output column, w ≈ (q − zp) · scale. A ragged last block is padded with zeros.
 */
export function quantizeBlockwise4(w: Float32Array, out: number, inFeatures: number, blockSize: number): Quantized4 {
  const blocks = Math.ceil(inFeatures / blockSize);
  const blobBytes = blockSize / 2;
  const packed = new Uint8Array(out * blocks * blobBytes);
  const scales = new Float32Array(out * blocks);
  const zpStride = Math.ceil(blocks / 2);
  const zeroPoints = new Uint8Array(out * zpStride);
  for (let n = 0; n < out; n++) {
    const row = n * inFeatures;
    for (let b = 0; b < blocks; b++) {
      const start = b * blockSize;
      const end = Math.min(start + blockSize, inFeatures);
      let lo = 0;
      let hi = 0;
      for (let k = start; k < end; k++) {
        const v = w[row + k];
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      const scale = Math.fround((hi - lo) / 15) || 1;
      const zp = clamp(Math.round(-lo / scale), 0, 15);
      scales[n * blocks + b] = scale;
      zeroPoints[n * zpStride + (b >> 1)] |= b & 1 ? zp << 4 : zp;
      const blob = (n * blocks + b) * blobBytes;
      for (let k = start; k < start + blockSize; k++) {
        const q = k < end ? clamp(Math.round(w[row + k] / scale) + zp, 0, 15) : zp;
        const j = k - start;
        packed[blob + (j >> 1)] |= j & 1 ? q << 4 : q;
      }
    }
  }
  return { packed, scales, zeroPoints, blocks };
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/**
 * Several initializers computed from one checkpoint tensor: the work is done once, on the first
 * request, and each part is released as soon as it has been handed out.
 */
export function sharedParts(count: number, compute: () => Promise<Uint8Array[]>): (() => Promise<Uint8Array>)[] {
  let pending: Promise<(Uint8Array | undefined)[]> | undefined;
  return Array.from({ length: count }, (_, i) => async () => {
    pending ??= compute();
    const parts = await pending;
    const part = parts[i];
    if (!part) throw new Error(`part ${i} requested twice`);
    parts[i] = undefined;
    return part;
  });
}

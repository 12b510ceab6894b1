/**
 * Weight quantisation for the 8-bit and 4-bit variants, done one tensor at a time while the model
 * streams to disk. Input weights are the checkpoint's Linear layout [out, in] (row n = output n).
 */

/** Rows and columns per tile of the cache-blocked transposes: 64 × 64 floats (16 KiB) stay in L1. */
export const TRANSPOSE_TILE = 64;

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
export function quantizePerChannel8(w: Float32Array, out: number, inFeatures: number, kind: 'int8' | 'uint8', order?: Int32Array): Quantized8 {
  const scales = new Float32Array(out);
  const zeroPoints = kind === 'uint8' ? new Uint8Array(out) : undefined;
  // Row by row (contiguous, still in cache for the second pass), as bytes: a Uint8Array store keeps an int8's
  // two's-complement bits. Output channel n is the checkpoint's row order[n] (the identity without `order`).
  const rows = new Uint8Array(out * inFeatures);
  for (let n = 0; n < out; n++) {
    const row = (order ? order[n] : n) * inFeatures;
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
      quantizeRow(w, row, rows, n * inFeatures, inFeatures, 1 / Math.fround(scale), 0, -127, 127);
    } else {
      const scale = (hi - lo) / 255 || 1;
      scales[n] = scale;
      const zp = clamp(Math.round(-lo / Math.fround(scale)), 0, 255);
      zeroPoints![n] = zp;
      quantizeRow(w, row, rows, n * inFeatures, inFeatures, 1 / Math.fround(scale), zp, 0, 255);
    }
  }
  const columns = transposedBytes(rows, out, inFeatures);
  const data = kind === 'int8' ? new Int8Array(columns.buffer) : columns;
  return { data, scales, zeroPoints };
}

/** rows[target + k] = clamp(round(w[source + k] · inverse) + zp, min, max) for k < length. */
function quantizeRow(w: Float32Array, source: number, rows: Uint8Array, target: number, length: number, inverse: number, zp: number, min: number, max: number): void {
  for (let k = 0; k < length; k++) {
    const q = roundHalfUp(w[source + k] * inverse) + zp;
    rows[target + k] = q < min ? min : q > max ? max : q;
  }
}

/** [rows, cols] row-major bytes → [cols, rows], tile by tile. */
function transposedBytes(a: Uint8Array, rows: number, cols: number): Uint8Array {
  const t = new Uint8Array(a.length);
  const T = TRANSPOSE_TILE;
  for (let r0 = 0; r0 < rows; r0 += T) {
    const r1 = Math.min(r0 + T, rows);
    for (let c0 = 0; c0 < cols; c0 += T) {
      const c1 = Math.min(c0 + T, cols);
      for (let c = c0; c < c1; c++) {
        const column = c * rows;
        for (let r = r0; r < r1; r++) t[column + r] = a[r * cols + c];
      }
    }
  }
  return t;
}

/** Math.round(x) (halves toward +∞) as floor(x + 0.5), corrected where that sum rounds up to the next integer. */
function roundHalfUp(x: number): number {
  const q = Math.floor(x + 0.5);
  return q - 0.5 > x ? q - 1 : q;
}

/** clamp(round(v / scale) + zp, 0, 15): one 4-bit weight. */
function quantize4(v: number, scale: number, zp: number): number {
  const q = roundHalfUp(v / scale) + zp;
  return q < 0 ? 0 : q > 15 ? 15 : q;
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
export function quantizeBlockwise4(w: Float32Array, out: number, inFeatures: number, blockSize: number, order?: Int32Array): Quantized4 {
  const blocks = Math.ceil(inFeatures / blockSize);
  const blobBytes = blockSize / 2;
  const packed = new Uint8Array(out * blocks * blobBytes);
  const scales = new Float32Array(out * blocks);
  const zpStride = Math.ceil(blocks / 2);
  const zeroPoints = new Uint8Array(out * zpStride);
  for (let n = 0; n < out; n++) {
    // Output column n is the checkpoint's row order[n] (the identity without `order`).
    const row = (order ? order[n] : n) * inFeatures;
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
      // Two 4-bit values per byte, the even element in the low nibble; a ragged last block is padded with zp.
      for (let j = 0; j < blockSize; j += 2) {
        const k = start + j;
        const low = k < end ? quantize4(w[row + k], scale, zp) : zp;
        const high = k + 1 < end ? quantize4(w[row + k + 1], scale, zp) : zp;
        packed[blob + (j >> 1)] = low | (high << 4);
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

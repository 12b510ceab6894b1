/**
 * PyTorch's F.interpolate for the two places SegGPT resizes parameters:
 * bicubic (A = −0.75, align_corners=False) for the position-embedding grid and linear
 * (align_corners=False) for relative-position tables. Computed in float64; the callers
 * round to float32 once.
 */

const CUBIC_A = -0.75;

function cubicWeights(t: number): [number, number, number, number] {
  const A = CUBIC_A;
  const x0 = t + 1;
  const x3 = 2 - t;
  const s = 1 - t;
  return [
    ((A * x0 - 5 * A) * x0 + 8 * A) * x0 - 4 * A,
    ((A + 2) * t - (A + 3)) * t * t + 1,
    ((A + 2) * s - (A + 3)) * s * s + 1,
    ((A * x3 - 5 * A) * x3 + 8 * A) * x3 - 4 * A,
  ];
}

interface Taps {
  index: Int32Array; // 4 source indices per output position, border-clamped
  weight: Float64Array; // 4 weights per output position
}

function cubicTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const index = new Int32Array(outSize * 4);
  const weight = new Float64Array(outSize * 4);
  for (let o = 0; o < outSize; o++) {
    // torch's source index for cubic modes is not clamped at 0 (unlike linear).
    const src = (o + 0.5) * scale - 0.5;
    const base = Math.floor(src);
    const w = cubicWeights(src - base);
    for (let k = 0; k < 4; k++) {
      index[o * 4 + k] = Math.min(Math.max(base - 1 + k, 0), inSize - 1);
      weight[o * 4 + k] = w[k];
    }
  }
  return { index, weight };
}

/**
 * Bicubic resize of a channels-last grid [inH, inW, C] to [outH, outW, C].
 * Identity (a copy) when the sizes match, as in the reference.
 */
export function bicubicResizeHWC(src: Float32Array, inH: number, inW: number, channels: number, outH: number, outW: number): Float32Array {
  const out = new Float32Array(outH * outW * channels);
  if (inH === outH && inW === outW) {
    out.set(src);
    return out;
  }
  const rows = cubicTaps(inH, outH);
  const cols = cubicTaps(inW, outW);
  const acc = new Float64Array(channels);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      acc.fill(0);
      for (let ky = 0; ky < 4; ky++) {
        const sy = rows.index[oy * 4 + ky];
        const wy = rows.weight[oy * 4 + ky];
        for (let kx = 0; kx < 4; kx++) {
          const sx = cols.index[ox * 4 + kx];
          const w = wy * cols.weight[ox * 4 + kx];
          const at = (sy * inW + sx) * channels;
          for (let c = 0; c < channels; c++) acc[c] += w * src[at + c];
        }
      }
      const o = (oy * outW + ox) * channels;
      for (let c = 0; c < channels; c++) out[o + c] = acc[c];
    }
  }
  return out;
}

/** Linear resize along the rows of a [inLen, C] table to [outLen, C]. */
export function linearResizeRows(src: Float32Array, inLen: number, channels: number, outLen: number): Float32Array {
  const out = new Float32Array(outLen * channels);
  if (inLen === outLen) {
    out.set(src);
    return out;
  }
  const scale = inLen / outLen;
  for (let o = 0; o < outLen; o++) {
    const s = Math.max((o + 0.5) * scale - 0.5, 0);
    const i0 = Math.min(Math.floor(s), inLen - 1);
    const i1 = Math.min(i0 + 1, inLen - 1);
    const l1 = s - i0;
    const l0 = 1 - l1;
    for (let c = 0; c < channels; c++) out[o * channels + c] = l0 * src[i0 * channels + c] + l1 * src[i1 * channels + c];
  }
  return out;
}

/** float32 → IEEE 754 binary16, round to nearest even (as numpy's astype(float16) and onnxruntime's casts). */

/** binary16 bits of the float32 with bit pattern `x`. */
export function float32BitsToFloat16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  const rest = mant & 0x1fff;
  let h = (e << 10) | (mant >>> 13);
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return sign | h;
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

export function toFloat16Bits(value: number): number {
  scratch[0] = value;
  return float32BitsToFloat16(scratchBits[0]);
}

/** Magnitudes (float32 bits) whose binary16 is normal and finite: from 2⁻¹⁴ up to, not including, 65520. */
const NORMAL_HALF_FROM = 0x38800000;
const NORMAL_HALF_TO = 0x477ff000;

/** float32 bits of +Infinity: finite magnitudes are below it. */
const FLOAT32_INFINITY = 0x7f800000;
/** ±65504, binary16's largest finite value. */
const HALF_MAX = 0x7bff;

/**
 * Converts a whole tensor without per-element allocations. Normal results take the integer fast path (rebias the
 * exponent, round to nearest even on the 13 dropped bits, a carry bumping the exponent); the rest (zeros,
 * subnormals, infinities, NaN) the general one. Finite values beyond binary16's range (|x| ≥ 65520, which would round
 * to infinity) are clamped to ±65504 and counted in `stats.clamped`.
 */
export function toFloat16Array(a: Float32Array, stats?: { clamped: number }): Uint16Array {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const out = new Uint16Array(a.length);
  let clamped = 0;
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i];
    const abs = x & 0x7fffffff;
    if (abs >= NORMAL_HALF_FROM && abs < NORMAL_HALF_TO) {
      out[i] = ((x >>> 16) & 0x8000) | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
    } else if (abs >= NORMAL_HALF_TO && abs < FLOAT32_INFINITY) {
      out[i] = ((x >>> 16) & 0x8000) | HALF_MAX;
      clamped++;
    } else {
      out[i] = float32BitsToFloat16(x);
    }
  }
  if (stats) stats.clamped += clamped;
  return out;
}

/** binary16 bits → number (exact). */
export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

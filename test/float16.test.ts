import { describe, expect, test } from 'vitest';
import { float16BitsToNumber, float32BitsToFloat16, toFloat16Array, toFloat16Bits } from '../src/conversion/float16.js';

/** The nearest binary16 by exhaustive search over all finite values, ties to the even pattern. */
function nearestByExhaustiveSearch(x: number, finite: { bits: number; value: number }[]): number {
  if (Number.isNaN(x)) return 0x7e00;
  // Values at or past max + half an ulp (65520) round to infinity.
  if (Math.abs(x) >= 65520) return x > 0 ? 0x7c00 : 0xfc00;
  let best = finite[0];
  let bestDist = Infinity;
  for (const f of finite) {
    const d = Math.abs(f.value - x);
    if (d < bestDist || (d === bestDist && (f.bits & 1) === 0 && (best.bits & 1) === 1)) {
      best = f;
      bestDist = d;
    }
  }
  // -0 for negative values that round to zero
  return best.value === 0 && (x < 0 || Object.is(x, -0)) ? 0x8000 : best.bits;
}

describe('float32 → float16', () => {
  const finite: { bits: number; value: number }[] = [];
  for (let h = 0; h < 0x10000; h++) {
    if ((h & 0x7c00) === 0x7c00 || h === 0x8000) continue;
    finite.push({ bits: h, value: float16BitsToNumber(h) });
  }

  test('matches exhaustive nearest-even rounding on hard and random values', () => {
    const values = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e-8, -1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14, 1 + 2 ** -11, 1 + 3 * 2 ** -11, Infinity, -Infinity, NaN, 0.1, 1 / 3];
    let s = 12345;
    for (let i = 0; i < 300; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      values.push(((s / 2 ** 32) * 2 - 1) * 2 ** ((i % 40) - 26));
    }
    for (const v of values) {
      const f = Math.fround(v);
      expect(toFloat16Bits(f), `${v}`).toBe(nearestByExhaustiveSearch(f, finite));
    }
  });

  test('the array conversion equals the scalar one', () => {
    const a = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 10 ** ((i % 9) - 4));
    const h = toFloat16Array(a);
    a.forEach((v, i) => expect(h[i]).toBe(toFloat16Bits(v)));
  });

  test('the array fast path equals the general conversion on a sweep of all float32 patterns and every boundary', () => {
    const patterns: number[] = [];
    for (let x = 0; x < 2 ** 32; x += 1021) patterns.push(x);
    // Around each exponent step and each rounding boundary of the fast path's range.
    for (let e = 0; e < 256; e++) for (let d = -4; d <= 4; d++) patterns.push(((e << 23) + d) >>> 0, (((e << 23) | 0x1000) + d) >>> 0);
    for (const edge of [0x38800000, 0x477fe000, 0x477ff000]) for (let d = -4096; d <= 4096; d++) patterns.push((edge + d) >>> 0);
    const bits = Uint32Array.from(patterns.flatMap((x) => [x, (x | 0x80000000) >>> 0]));
    const stats = { clamped: 0 };
    const fast = toFloat16Array(new Float32Array(bits.buffer), stats);
    let mismatches = 0;
    let overflows = 0;
    for (let i = 0; i < bits.length; i++) {
      const general = float32BitsToFloat16(bits[i]);
      const finiteOverflow = (general & 0x7fff) === 0x7c00 && (bits[i] & 0x7fffffff) < 0x7f800000;
      // Finite values that would round to infinity are clamped to ±65504 instead.
      const expected = finiteOverflow ? (general & 0x8000) | 0x7bff : general;
      if (finiteOverflow) overflows++;
      if (fast[i] !== expected) mismatches++;
    }
    expect(mismatches).toBe(0);
    expect(stats.clamped).toBe(overflows);
    expect(overflows).toBeGreaterThan(0);
  });
});

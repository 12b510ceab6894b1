/**
 * The two passes of Pillow's 8-bit convolution resize (pillow_resample.ts) as WebAssembly SIMD kernels, about 14×
 * faster than the plain JavaScript loops. The arithmetic is Pillow's, unchanged: int32 lanes, `(2^21 + Σ pixel·coeff)
 * >> 22` clipped to 0..255 (the two saturating narrows clip exactly like Pillow's clip8). The sums are exact integers
 * that cannot overflow int32 (|Σ| ≤ 2^21 + 255 · Σ|coeff| < 2^31 for every Pillow filter; Pillow itself sums in
 * int32), so evaluating them four lanes at a time, in any order, gives Pillow's bytes bit for bit.
 *
 * The module (about 3.3 KB) is assembled here from its instructions, so there is no binary blob and no build step;
 * it is compiled synchronously on first use (under the 4 KiB a browser's main thread may compile that way). Where
 * WebAssembly or its SIMD extension is unavailable (or a page's CSP forbids compiling it) `wasmKernels()` returns
 * null and pillow_resample.ts keeps its JavaScript loops.
 *
 * - `hpass<channels>`: four source rows at a time, one per lane. The rows are first transposed and widened 16 bytes
 *   at a time (scratch[b] = byte b of each of the 4 rows, as u16x4), then each output pixel's channel is
 *   Σ tap · coefficient over those vectors: one multiply-add gives that channel for all 4 rows.
 * - `vpass`: per output row, 16 bytes of a row at a time (any channel layout: every byte column is independent),
 *   Σ over the tap rows, each row's coefficient splatted across the lanes.
 */

// ---- a minimal WebAssembly binary writer: just what the two kernels use ----

type Code = number[];
/** Instructions as written: bytes and lists of bytes, one level deep. */
type Parts = (number | Code)[];
const seq = (...parts: Parts): Code => parts.flat();

function uleb(value: number): Code {
  const out: Code = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    out.push(byte);
  } while (value !== 0);
  return out;
}

function sleb(value: number): Code {
  const out: Code = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && (byte & 0x40) === 0) || (value === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

const I32 = 0x7f;
const V128 = 0x7b;
const VOID = 0x40;

// Local indices stay below 128, so each is one LEB128 byte.
const get = (local: number): Code => [0x20, local];
const set = (local: number): Code => [0x21, local];
const tee = (local: number): Code => [0x22, local];
const i32 = (value: number): Code => [0x41, ...sleb(value)];
const add: Code = [0x6a];
const sub: Code = [0x6b];
const mul: Code = [0x6c];
const shl: Code = [0x74];
const ltU: Code = [0x49];
const load: Code = [0x28, 2, 0];
const loop = (...body: Parts): Code => [0x03, VOID, ...seq(...body), 0x0b];
const block = (...body: Parts): Code => [0x02, VOID, ...seq(...body), 0x0b];
const geU: Code = [0x4f];
const brIf = (depth: number): Code => [0x0d, depth];
const simd = (opcode: number, ...immediates: number[]): Code => [0xfd, ...uleb(opcode), ...immediates];
const v128Load = simd(0x00, 4, 0);
const v128Load32Splat = simd(0x09, 2, 0);
const v128Load16x4UAt = (offset: number) => simd(0x04, 3, ...uleb(offset));
const v128Load32SplatAt = (offset: number) => simd(0x09, 2, ...uleb(offset));
const v128Store = simd(0x0b, 4, 0);
const v128StoreAt = (offset: number) => simd(0x0b, 4, ...uleb(offset));
const i8x16Shuffle = (lanes: number[]) => simd(0x0d, ...lanes);
/** Stores byte lane `lane` at address + offset. */
const v128Store8Lane = (offset: number, lane: number) => simd(0x58, 0, ...uleb(offset), lane);
const i32x4Splat = simd(0x11);
const i8x16NarrowI16x8U = simd(0x66);
const i16x8NarrowI32x4S = simd(0x85);
const i16x8ExtendLowU = simd(0x89);
const i16x8ExtendHighU = simd(0x8a);
const i32x4ExtendLowU = simd(0xa9);
const i32x4ExtendHighU = simd(0xaa);
const i32x4ShrS = simd(0xac);
const i32x4Add = simd(0xae);
const i32x4Mul = simd(0xb5);

/** `local += step` */
const bump = (local: number, step: Code): Code => seq(get(local), step, add, set(local));

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** `(acc >> 22)` of two accumulators narrowed with saturation to one i16x8 (clips each to −32768..32767). */
const shiftNarrow = (a: number, b: number): Code =>
  seq(get(a), i32(PRECISION_BITS), i32x4ShrS, get(b), i32(PRECISION_BITS), i32x4ShrS, i16x8NarrowI32x4S);

/** Byte and 16-bit interleaves of two vectors (the low or high halves), as i8x16.shuffle lane lists. */
const INTERLEAVE8 = (high: boolean) => Array.from({ length: 16 }, (_, i) => (high ? 8 : 0) + (i >> 1) + (i & 1) * 16);
const INTERLEAVE16 = (high: boolean) => Array.from({ length: 16 }, (_, i) => (high ? 8 : 0) + ((i >> 2) << 1) + (i & 1) + ((i >> 1) & 1) * 16);

/**
 * hpass<channels>(src, srcRowBytes, srcStride, width, rows, scratch, dst, dstRowBytes, outWidth, starts, counts,
 * coeffs, kBytes): the horizontal pass over `rows` source rows at src, four rows at a time (the four lanes), for
 * the first `channels` bytes of each pixel; writes `channels` bytes per output pixel, rows dstRowBytes apart.
 * starts/counts: int32 per output pixel; coeffs: int32, kBytes = 4·ksize bytes per output pixel. Rows are handled
 * in groups of 4: src and dst must have room for `rows` rounded up to 4 (the extra rows are garbage, unread).
 */
function hpassBody(channels: number): Code {
  const [src, srcRowBytes, srcStride, , rows, scratch, dst, dstRowBytes, outWidth, starts, counts, coeffs, kBytes] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
  ];
  // i32 locals
  const [r, p, q, rowEnd, xx, c, cEnd, cEndU, pixelBytes, o0, o1, o2, o3] = [13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];
  // v128 locals
  const [v0, v1, v2, v3, lo, hi, k, t] = [26, 27, 28, 29, 30, 31, 32, 33];
  const acc = (ch: number) => 34 + ch;
  const locals = [...uleb(2), ...uleb(13), I32, ...uleb(8 + channels), V128];
  const outs = [o0, o1, o2, o3];
  const atRow = (n: number) => seq(get(p), ...(n ? [get(srcRowBytes), i32(n), mul, add] : []), v128Load);
  /** Byte b of the 16 at p, for the 4 rows, as u16x4 at scratch + 8b: two interleaves, then widening. */
  const transposeStore = (a: number, b: number, high: boolean, offset: number) =>
    seq(get(a), get(b), i8x16Shuffle(INTERLEAVE16(high)), set(t),
      get(q), get(t), i16x8ExtendLowU, v128StoreAt(offset), get(q), get(t), i16x8ExtendHighU, v128StoreAt(offset + 16));
  /** One tap: its coefficient times the pixel's `channels` u16x4 (4 rows) at p, into the accumulators. */
  const tap = (coeffOffset: number) =>
    seq(get(c), v128Load32SplatAt(coeffOffset), set(k),
      ...Array.from({ length: channels }, (_, ch) => seq(get(acc(ch)), get(p), v128Load16x4UAt(8 * ch), get(k), i32x4Mul, i32x4Add, set(acc(ch)))),
      bump(p, get(pixelBytes)));
  const code = seq(
    ...[get(srcStride), i32(3), shl, set(pixelBytes)],
    ...i32(0), ...set(r),
    ...loop(
      // Transpose-widen rows r … r+3: scratch[b] = (row0[b], row1[b], row2[b], row3[b]) as u16x4, 16 bytes a step.
      ...[get(src), get(r), get(srcRowBytes), mul, add, tee(p), get(srcRowBytes), add, set(rowEnd), get(scratch), set(q)],
      loop(
        ...[atRow(0), set(v0), atRow(1), set(v1), atRow(2), set(v2), atRow(3), set(v3)],
        ...[get(v0), get(v1), i8x16Shuffle(INTERLEAVE8(false)), set(lo), get(v2), get(v3), i8x16Shuffle(INTERLEAVE8(false)), set(hi)],
        transposeStore(lo, hi, false, 0),
        transposeStore(lo, hi, true, 32),
        ...[get(v0), get(v1), i8x16Shuffle(INTERLEAVE8(true)), set(lo), get(v2), get(v3), i8x16Shuffle(INTERLEAVE8(true)), set(hi)],
        transposeStore(lo, hi, false, 64),
        transposeStore(lo, hi, true, 96),
        bump(p, i32(16)),
        bump(q, i32(128)),
        ...[get(p), get(rowEnd), ltU, brIf(0)],
      ),
      // Output pixels of the 4 rows.
      ...outs.map((o, n) => seq(get(dst), get(r), i32(n), add, get(dstRowBytes), mul, add, set(o))),
      ...[i32(0), set(xx)],
      loop(
        ...[get(scratch), get(starts), get(xx), i32(2), shl, add, load, get(pixelBytes), mul, add, set(p)],
        ...[get(coeffs), get(xx), get(kBytes), mul, add, tee(c)],
        ...[get(counts), get(xx), i32(2), shl, add, load, i32(2), shl, add, tee(cEnd), i32(4), sub, set(cEndU)],
        ...[i32(HALF), i32x4Splat, ...Array.from({ length: channels }, (_, ch) => (ch < channels - 1 ? tee(acc(ch)) : set(acc(ch))))],
        // Two taps per iteration while two remain, then the last one.
        block(
          ...[get(c), get(cEndU), geU, brIf(0)],
          loop(tap(0), tap(4), bump(c, i32(8)), ...[get(c), get(cEndU), ltU, brIf(0)]),
        ),
        block(...[get(c), get(cEnd), geU, brIf(0)], tap(0)),
        // Each accumulator holds one channel of the 4 rows: clip to bytes, one to each row.
        ...Array.from({ length: channels }, (_, ch) =>
          seq(shiftNarrow(acc(ch), acc(ch)), set(t), get(t), get(t), i8x16NarrowI16x8U, set(t),
            ...outs.map((o, n) => seq(get(o), get(t), v128Store8Lane(ch, n))))),
        ...outs.map((o) => bump(o, i32(channels))),
        bump(xx, i32(1)),
        ...[get(xx), get(outWidth), ltU, brIf(0)],
      ),
      bump(r, i32(4)),
      ...[get(r), get(rows), ltU, brIf(0)],
    ),
  );
  return [...locals, ...code, 0x0b];
}

/**
 * vpass(src, rowBytes, dst, outHeight, starts, counts, coeffs, kBytes, rowShift): rowBytes a multiple of 16, tap
 * rows `starts[yy] − rowShift …` of src; writes outHeight rows of rowBytes at dst.
 */
function vpassBody(): Code {
  const [src, rowBytes, dst, outHeight, starts, counts, coeffs, kBytes, rowShift] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [yy, base, cBase, cEnd, o, j, p, c] = [9, 10, 11, 12, 13, 14, 15, 16];
  const [a0, a1, a2, a3, v, k, lo, hi] = [17, 18, 19, 20, 21, 22, 23, 24];
  const locals = [...uleb(2), ...uleb(8), I32, ...uleb(8), V128];
  const accumulate = (a: number, half: number, extend: Code): Code => seq(get(a), get(half), extend, get(k), i32x4Mul, i32x4Add, set(a));
  const code = seq(
    ...i32(0), ...set(yy),
    ...loop(
      ...[get(src), get(starts), get(yy), i32(2), shl, add, load, get(rowShift), sub, get(rowBytes), mul, add, set(base)],
      ...[get(coeffs), get(yy), get(kBytes), mul, add, tee(cBase)],
      ...[get(counts), get(yy), i32(2), shl, add, load, i32(2), shl, add, set(cEnd)],
      ...[get(dst), get(yy), get(rowBytes), mul, add, set(o)],
      ...[i32(0), set(j)],
      loop(
        ...[i32(HALF), i32x4Splat, tee(a0), tee(a1), tee(a2), set(a3)],
        ...[get(base), get(j), add, set(p), get(cBase), set(c)],
        loop(
          ...[get(p), v128Load, tee(v), i16x8ExtendLowU, set(lo), get(v), i16x8ExtendHighU, set(hi)],
          ...[get(c), v128Load32Splat, set(k)],
          accumulate(a0, lo, i32x4ExtendLowU),
          accumulate(a1, lo, i32x4ExtendHighU),
          accumulate(a2, hi, i32x4ExtendLowU),
          accumulate(a3, hi, i32x4ExtendHighU),
          bump(p, get(rowBytes)),
          bump(c, i32(4)),
          ...[get(c), get(cEnd), ltU, brIf(0)],
        ),
        ...[get(o), get(j), add, shiftNarrow(a0, a1), shiftNarrow(a2, a3), i8x16NarrowI16x8U, v128Store],
        bump(j, i32(16)),
        ...[get(j), get(rowBytes), ltU, brIf(0)],
      ),
      bump(yy, i32(1)),
      ...[get(yy), get(outHeight), ltU, brIf(0)],
    ),
  );
  return [...locals, ...code, 0x0b];
}

function section(id: number, payload: Code): Code {
  return [id, ...uleb(payload.length), ...payload];
}

const vector = (items: Code[]): Code => [...uleb(items.length), ...items.flat()];
const name = (text: string): Code => [...uleb(text.length), ...Array.from(text, (ch) => ch.charCodeAt(0))];

/**
 * The module's bytes: memory (exported, grown from JavaScript), hpass1, hpass3, hpass4 (by channel count; 2-channel
 * resizes, which the processor never makes, keep the JavaScript passes) and vpass. Under 4 KiB, the size a browser's
 * main thread may compile synchronously.
 */
export function kernelModuleBytes(): Uint8Array<ArrayBuffer> {
  const fnType = (params: number) => [0x60, ...uleb(params), ...new Array(params).fill(I32), 0];
  const functions: [string, number, Code][] = [
    ['hpass1', 0, hpassBody(1)],
    ['hpass3', 0, hpassBody(3)],
    ['hpass4', 0, hpassBody(4)],
    ['vpass', 1, vpassBody()],
  ];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vector([fnType(13), fnType(9)])),
    ...section(3, vector(functions.map(([, type]) => [type]))),
    ...section(5, vector([[0x00, 1]])),
    ...section(7, vector([[...name('memory'), 0x02, 0], ...functions.map(([fn], f) => [...name(fn), 0x00, f])])),
    ...section(10, vector(functions.map(([, , body]) => [...uleb(body.length), ...body]))),
  ]);
}

type Kernel = (...args: number[]) => void;

export interface ResampleKernels {
  memory: WebAssembly.Memory;
  /** hpass[channels] resamples the first `channels` bytes of each pixel (1, 3 or 4; undefined for 2). */
  hpass: readonly (Kernel | undefined)[];
  vpass: Kernel;
}

let compiled: WebAssembly.Module | null | undefined;

/** A fresh instance of the kernels (its own memory); null where WebAssembly SIMD is unavailable. */
export function wasmKernels(): ResampleKernels | null {
  if (compiled === undefined) {
    try {
      compiled = typeof WebAssembly === 'object' ? new WebAssembly.Module(kernelModuleBytes()) : null;
    } catch {
      compiled = null;
    }
  }
  if (compiled === null) return null;
  try {
    const e = new WebAssembly.Instance(compiled, {}).exports as Record<string, Kernel> & { memory: WebAssembly.Memory };
    return { memory: e.memory, hpass: [undefined, e.hpass1, undefined, e.hpass3, e.hpass4], vpass: e.vpass };
  } catch {
    return null; // e.g. no memory for a new instance: the JavaScript passes need none
  }
}

/** An RGB colour, each channel 0..255. */
export type RGB = [r: number, g: number, b: number];

/** The largest num_labels whose palette colours are distinct (base ≤ 256, margin ≥ 1). */
export const MAX_NUM_LABELS = 256 ** 3 - 1;

function integerCubeRoot(n: number): number {
  let c = Math.round(Math.cbrt(n));
  while (c * c * c > n) c--;
  while ((c + 1) * (c + 1) * (c + 1) <= n) c++;
  return c;
}

/**
 * `int(num_labels ** (1/3)) + 1`, as CPython computes it on glibc, for 1 ≤ num_labels ≤ MAX_NUM_LABELS.
 *
 * Why not Math.cbrt / Math.pow: Python raises to the double t = 1/3 − 2⁻⁵⁴/3 (slightly below a
 * third), and glibc's pow rounds the exact n^t to nearest. For n = k³, n^t = k·k^(−2⁻⁵⁴) ≈ k − 2⁻⁵⁴·k·ln k,
 * which lands on the double below k when 2⁻⁵⁴·k·ln k exceeds half the gap under k (2^(e−53) for
 * 2^e < k < 2^(e+1), 2^(e−54) for k = 2^e). That holds for every k ≥ 4 (k = 4: 5.5 > 4, k = 5: 8.05 > 8,
 * k ≥ 8: ln k > 2), so int() gives k − 1 there (64 → 3.9999999999999996, 125 → 4.999999999999999,
 * 216 → 5.999999999999999), while 1, 8 and 27 give exactly 1, 2, 3. For any other n the cube root is at
 * least ~1/(3(k+1)²) from an integer, far beyond that shift, so the result is floor(∛n). V8's Math.pow
 * and Math.cbrt are not glibc (Math.pow(216, 1/3) === 6), hence the integer derivation below.
 */
export function paletteBase(num_labels: number): number {
  const k = integerCubeRoot(num_labels);
  const floorOfPow = k * k * k === num_labels && k >= 4 ? k - 1 : k;
  return floorOfPow + 1;
}

/** Palettes up to this size are searched colour by colour; larger ones by their grid structure. */
const SMALL_PALETTE = 32;
/** A per-channel squared distance more than this above the channel's minimum can neither win nor tie (grid steps ≥ 1). */
const TIE_SLACK = 1;

/**
 * The SegGPT palette (HF `build_palette`) as a function, never materialised (num_labels may be 16 million): entry 0 is
 * black (background), entry i ≥ 1 colours class i: with base b = paletteBase(n) and margin m = 256 // b, location
 * j = i − 1 maps to 255 − m·(j // b², (j mod b²) // b, j mod b).
 */
export class SegGPTPalette {
  readonly base: number;
  readonly margin: number;
  readonly #small: Float32Array | null;

  constructor(readonly num_labels: number) {
    this.base = paletteBase(num_labels);
    this.margin = Math.floor(256 / this.base);
    this.#small = num_labels + 1 <= SMALL_PALETTE ? Float32Array.from(this.colours(num_labels + 1).flat()) : null;
  }

  /** The colour of palette entry `index` (0 = background). */
  colour(index: number): RGB {
    if (index === 0) return [0, 0, 0];
    const j = index - 1;
    const b2 = this.base * this.base;
    const m = this.margin;
    return [255 - Math.floor(j / b2) * m, 255 - Math.floor((j % b2) / this.base) * m, 255 - (j % this.base) * m];
  }

  /** The first `count` entries. */
  colours(count = this.num_labels + 1): RGB[] {
    return Array.from({ length: count }, (_, i) => this.colour(i));
  }

  /**
   * The index of the entry nearest to (r, g, b) by the reference's float32 squared distance, the first on ties —
   * in constant time: the locations form a prefix of a b×b×b grid (three boxes), within which the nearest colour is
   * the nearest grid value per channel; only the neighbours of those can tie in float32, and all of them are compared.
   */
  nearest(r: number, g: number, b: number): number {
    if (this.#small) return nearestInList(this.#small, r, g, b);
    const B = this.base;
    const n = this.num_labels;
    const full = Math.floor(n / (B * B));
    const rest = Math.floor((n % (B * B)) / B);
    const tail = n % B;
    let best = 0;
    let bestDistance = distance(r, g, b, 0, 0, 0);
    const consider = (rLo: number, rHi: number, gLo: number, gHi: number, bLo: number, bHi: number) => {
      const rs = this.#candidates(r, rLo, rHi);
      const gs = this.#candidates(g, gLo, gHi);
      const bs = this.#candidates(b, bLo, bHi);
      for (const tr of rs) {
        for (const tg of gs) {
          for (const tb of bs) {
            const d = distance(r, g, b, 255 - tr * this.margin, 255 - tg * this.margin, 255 - tb * this.margin);
            const index = 1 + (tr * B + tg) * B + tb;
            if (d < bestDistance || (d === bestDistance && index < best)) {
              bestDistance = d;
              best = index;
            }
          }
        }
      }
    };
    if (full > 0) consider(0, full - 1, 0, B - 1, 0, B - 1);
    if (rest > 0) consider(full, full, 0, rest - 1, 0, B - 1);
    if (tail > 0) consider(full, full, rest, rest, 0, tail - 1);
    return best;
  }

  /** Grid steps t in [lo, hi] whose value 255 − t·m can be nearest to `v` (the nearest and its tying neighbours). */
  #candidates(v: number, lo: number, hi: number): number[] {
    const m = this.margin;
    const nearest = Math.min(hi, Math.max(lo, Math.round((255 - v) / m)));
    const term = (t: number) => {
      const d = Math.fround(v - (255 - t * m));
      return Math.fround(d * d);
    };
    const min = term(nearest);
    const out: number[] = [];
    for (let t = Math.max(lo, nearest - 1); t <= Math.min(hi, nearest + 1); t++) if (term(t) <= min + TIE_SLACK) out.push(t);
    return out;
  }
}

/** The reference's squared distance, in float32 and in its order: ((dr² + dg²) + db²). */
function distance(r: number, g: number, b: number, cr: number, cg: number, cb: number): number {
  const dr = Math.fround(r - cr);
  const dg = Math.fround(g - cg);
  const db = Math.fround(b - cb);
  return Math.fround(Math.fround(Math.fround(dr * dr) + Math.fround(dg * dg)) + Math.fround(db * db));
}

/** Index of the colour nearest to (r, g, b) in a flat [r, g, b, …] list; first wins on ties. */
export function nearestInList(colours: Float32Array, r: number, g: number, b: number): number {
  let best = 0;
  let bestDistance = Infinity;
  for (let k = 0, p = 0; p < colours.length; k++, p += 3) {
    const d = distance(r, g, b, colours[p], colours[p + 1], colours[p + 2]);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return best;
}

/** HF `get_palette`: num_labels + 1 colours, index 0 black (background). */
export function get_palette(num_labels: number): RGB[] {
  return new SegGPTPalette(num_labels).colours();
}

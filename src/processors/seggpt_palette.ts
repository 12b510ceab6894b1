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

/**
 * The SegGPT palette (HF `build_palette`): entry 0 is black (background), entry i ≥ 1 colours class i:
 * with base b = paletteBase(n) and margin m = 256 // b, location j = i − 1 maps to
 * 255 − m·(j // b², (j mod b²) // b, j mod b). Returns num_labels + 1 colours.
 */
export function get_palette(num_labels: number): RGB[] {
  const base = paletteBase(num_labels);
  const margin = Math.floor(256 / base);
  const base2 = base * base;
  const palette: RGB[] = [[0, 0, 0]];
  for (let j = 0; j < num_labels; j++) {
    const r = Math.floor(j / base2);
    const g = Math.floor((j % base2) / base);
    const b = j % base;
    palette.push([255 - r * margin, 255 - g * margin, 255 - b * margin]);
  }
  return palette;
}

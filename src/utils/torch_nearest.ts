/**
 * Source indices of `torch.nn.functional.interpolate(mode="nearest")` along one axis (CPU kernel):
 * identity when sizes match, `dst >> 1` when out = 2·in, otherwise
 * `min(floor(float32(dst) · float32(in / out)), in − 1)` with float32 arithmetic throughout.
 */
export function torchNearestIndices(inSize: number, outSize: number): Int32Array {
  const out = new Int32Array(outSize);
  if (outSize === inSize) {
    for (let i = 0; i < outSize; i++) out[i] = i;
  } else if (outSize === 2 * inSize) {
    for (let i = 0; i < outSize; i++) out[i] = i >> 1;
  } else {
    const scale = Math.fround(inSize / outSize);
    for (let i = 0; i < outSize; i++) {
      const src = Math.floor(Math.fround(Math.fround(i) * scale));
      out[i] = src < inSize - 1 ? src : inSize - 1;
    }
  }
  return out;
}

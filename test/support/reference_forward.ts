import type { SegGPTActivation, SegGPTConfigFields } from '../../src/configs/seggpt_config_fields.js';
import { openCheckpointFolder } from '../../src/conversion/node/files.js';

/**
 * A naive float64 re-implementation of HF `SegGptForImageSegmentation.forward` (modeling_seggpt.py, eval mode),
 * written from the PyTorch code only, as an independent oracle for the ONNX converter. Readability over speed:
 * every tensor is a flat Float64Array with its index arithmetic spelled out next to the HF line it mirrors.
 */

/** Tensor name → its values (row-major, the checkpoint's shape). */
export type WeightGetter = (name: string) => ArrayLike<number>;

export type EmbeddingType = 'semantic' | 'instance';

export interface ReferenceInputs {
  /** Query images, [B, 3, h, w] with h = image_size[0] / 2, w = image_size[1]. */
  pixel_values: ArrayLike<number>;
  /** Prompt images, [B, 3, h, w]. */
  prompt_pixel_values: ArrayLike<number>;
  /** Prompt masks (RGB, normalised like images), [B, 3, h, w]. */
  prompt_masks: ArrayLike<number>;
  /** HF default (None) is instance. */
  embedding_type?: EmbeddingType | null;
  feature_ensemble?: boolean;
}

export interface ReferenceOutputs {
  batch_size: number;
  /** [B, 3, image_size[0], image_size[1]] */
  pred_masks: Float64Array;
  /** Encoder output after the last layer (merged streams), [B, gh, gw, hidden_size]. */
  last_hidden_state: Float64Array;
  /** The decoder input: cat(encoder.layernorm(h_i) for i in intermediate indices, -1), [B, gh, gw, hidden·k]. */
  intermediate_hidden_states: Float64Array;
}

/** Reads every tensor of a checkpoint folder into memory and returns a synchronous getter. */
export async function loadCheckpointWeights(folder: string): Promise<WeightGetter> {
  const weights = await openCheckpointFolder(folder);
  const values = new Map<string, Float32Array>();
  try {
    for (const name of weights.tensors.keys()) values.set(name, await weights.readFloat32(name));
  } finally {
    await weights.close();
  }
  return (name) => {
    const v = values.get(name);
    if (!v) throw new Error(`reference: tensor ${name} is not in ${folder}`);
    return v;
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Activations (HF ACT2FN; the same `hidden_act` is used in the MLP and in the decoder head)

/** erf in float64: erf(x) = 2/√π · e^{−x²} · Σ_n 2ⁿ x^{2n+1} / (1·3···(2n+1)); all terms positive, so no cancellation. */
export function erf(x: number): number {
  if (x < 0) return -erf(-x);
  if (x > 6) return 1; // 1 − erf(6) ≈ 2e−17
  const x2 = x * x;
  let term = x;
  let sum = x;
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

export function activation(name: SegGPTActivation): (x: number) => number {
  switch (name) {
    case 'gelu': // nn.functional.gelu (exact)
      return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_new': // NewGELUActivation
    case 'gelu_pytorch_tanh': // F.gelu(approximate="tanh"): kBeta = √2 · (2/√π) · 0.5 = √(2/π), the same formula
      return (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    case 'gelu_fast': // FastGELUActivation: note the truncated constant 0.7978845608
      return (x) => 0.5 * x * (1 + Math.tanh(x * 0.7978845608 * (1 + 0.044715 * x * x)));
    case 'quick_gelu': // QuickGELUActivation
      return (x) => x * sigmoid(1.702 * x);
    case 'relu':
      return (x) => (x > 0 ? x : 0);
    case 'silu':
    case 'swish':
      return (x) => x * sigmoid(x);
    default:
      throw new Error(`reference: unknown activation ${String(name)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// torch.nn.functional.interpolate, align_corners=False, output size given (scale = in / out)

/** mode="linear" on a [L, C] table along L (rows). */
export function interpolateLinearRows(table: ArrayLike<number>, inLen: number, channels: number, outLen: number): Float64Array {
  const out = new Float64Array(outLen * channels);
  const scale = inLen / outLen;
  for (let o = 0; o < outLen; o++) {
    // area_pixel_compute_source_index (linear): negative sources clamp to 0.
    const src = Math.max(scale * (o + 0.5) - 0.5, 0);
    const i0 = Math.floor(src);
    const i1 = i0 < inLen - 1 ? i0 + 1 : i0;
    const l1 = src - i0;
    const l0 = 1 - l1;
    for (let c = 0; c < channels; c++) out[o * channels + c] = l0 * table[i0 * channels + c] + l1 * table[i1 * channels + c];
  }
  return out;
}

const CUBIC_A = -0.75;
/** torch cubic_convolution1, |x| ≤ 1 */
const cubic1 = (x: number): number => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1;
/** torch cubic_convolution2, 1 < |x| < 2 */
const cubic2 = (x: number): number => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A;

/** The 4 taps (indices clamped to the border) and weights for one output coordinate of torch bicubic. */
function bicubicTaps(o: number, inLen: number, outLen: number): { index: number[]; weight: number[] } {
  // area_pixel_compute_source_index with cubic=true: no clamping of the source coordinate.
  const src = (inLen / outLen) * (o + 0.5) - 0.5;
  const i = Math.floor(src);
  const t = src - i;
  const clamp = (k: number): number => Math.min(Math.max(k, 0), inLen - 1);
  return {
    index: [clamp(i - 1), clamp(i), clamp(i + 1), clamp(i + 2)],
    weight: [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)],
  };
}

/** mode="bicubic" on a channels-last [inH, inW, C] grid → [outH, outW, C]. */
export function interpolateBicubicGrid(grid: ArrayLike<number>, inH: number, inW: number, channels: number, outH: number, outW: number): Float64Array {
  const out = new Float64Array(outH * outW * channels);
  for (let oy = 0; oy < outH; oy++) {
    const ty = bicubicTaps(oy, inH, outH);
    for (let ox = 0; ox < outW; ox++) {
      const tx = bicubicTaps(ox, inW, outW);
      for (let c = 0; c < channels; c++) {
        let acc = 0;
        for (let a = 0; a < 4; a++) {
          let row = 0;
          for (let b = 0; b < 4; b++) row += tx.weight[b] * grid[(ty.index[a] * inW + tx.index[b]) * channels + c];
          acc += ty.weight[a] * row;
        }
        out[(oy * outW + ox) * channels + c] = acc;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Building blocks on channels-last token arrays [rows, C]

/** nn.Linear: x [rows, inF] → [rows, outF], weight [outF, inF]. */
function linear(x: Float64Array, rows: number, inF: number, weight: ArrayLike<number>, bias: ArrayLike<number> | null, outF: number): Float64Array {
  const out = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < inF; i++) acc += x[r * inF + i] * weight[o * inF + i];
      out[r * outF + o] = acc;
    }
  }
  return out;
}

/** nn.LayerNorm over the last axis (biased variance). */
function layerNorm(x: Float64Array, rows: number, C: number, weight: ArrayLike<number>, bias: ArrayLike<number>, eps: number): Float64Array {
  const out = new Float64Array(rows * C);
  for (let r = 0; r < rows; r++) {
    let mean = 0;
    for (let c = 0; c < C; c++) mean += x[r * C + c];
    mean /= C;
    let variance = 0;
    for (let c = 0; c < C; c++) variance += (x[r * C + c] - mean) ** 2;
    variance /= C;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = (x[r * C + c] - mean) * inv * weight[c] + bias[c];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Model

interface Geometry {
  C: number;
  heads: number;
  headDim: number;
  p: number;
  gh: number;
  gw: number;
  /** Pixel height and width of one input image (half the canvas height). */
  h: number;
  w: number;
}

function geometry(config: SegGPTConfigFields): Geometry {
  const C = config.hidden_size;
  const heads = config.num_attention_heads;
  const p = config.patch_size;
  const [H, W] = config.image_size;
  return { C, heads, headDim: C / heads, p, gh: H / p, gw: W / p, h: H / 2, w: W };
}

/** SegGptPatchEmbeddings: Conv2d(3, C, p, stride p) on a [B, 3, 2h, w] canvas, permuted to [B, gh, gw, C]. */
function patchEmbed(canvas: Float64Array, B: number, g: Geometry, weight: WeightGetter): Float64Array {
  const W = weight('model.embeddings.patch_embeddings.projection.weight'); // [C, 3, p, p]
  const bias = weight('model.embeddings.patch_embeddings.projection.bias');
  const { C, p, gh, gw } = g;
  const H = gh * p;
  const Wd = gw * p;
  const out = new Float64Array(B * gh * gw * C);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < gh; i++) {
      for (let j = 0; j < gw; j++) {
        for (let o = 0; o < C; o++) {
          let acc = bias[o];
          for (let ch = 0; ch < 3; ch++) {
            for (let ky = 0; ky < p; ky++) {
              for (let kx = 0; kx < p; kx++) {
                acc += W[((o * 3 + ch) * p + ky) * p + kx] * canvas[((b * 3 + ch) * H + i * p + ky) * Wd + j * p + kx];
              }
            }
          }
          out[((b * gh + i) * gw + j) * C + o] = acc;
        }
      }
    }
  }
  return out;
}

/** torch.cat((top, bottom), dim=2) for two [B, 3, h, w] arrays. */
function stackOnHeight(top: ArrayLike<number>, bottom: ArrayLike<number>, B: number, h: number, w: number): Float64Array {
  const out = new Float64Array(B * 3 * 2 * h * w);
  for (let bc = 0; bc < B * 3; bc++) {
    for (let k = 0; k < h * w; k++) {
      out[bc * 2 * h * w + k] = top[bc * h * w + k];
      out[bc * 2 * h * w + h * w + k] = bottom[bc * h * w + k];
    }
  }
  return out;
}

/** SegGptEmbeddings.interpolate_pos_encoding: the s×s grid (CLS dropped), bicubic to gh×gw unless already that size. */
function positionEmbedding(g: Geometry, weight: WeightGetter): Float64Array {
  const table = weight('model.embeddings.position_embeddings'); // [1, s² + 1, C]
  const numPatches = table.length / g.C - 1;
  const s = Math.floor(Math.sqrt(numPatches));
  const grid = Float64Array.from({ length: numPatches * g.C }, (_, k) => table[g.C + k]);
  if (s === g.gh && s === g.gw) return grid;
  return interpolateBicubicGrid(grid, s, s, g.C, g.gh, g.gw);
}

/** SegGptEmbeddings.forward: returns the 2B streams [input streams; prompt (mask) streams] as [2B, gh, gw, C]. */
function embeddings(inputs: ReferenceInputs, B: number, g: Geometry, config: SegGPTConfigFields, weight: WeightGetter): Float64Array {
  const { C, gh, gw, h, w } = g;
  const imageCanvas = stackOnHeight(inputs.prompt_pixel_values, inputs.pixel_values, B, h, w);
  const maskCanvas = stackOnHeight(inputs.prompt_masks, inputs.prompt_masks, B, h, w);
  const inputEmb = patchEmbed(imageCanvas, B, g, weight);
  const promptEmb = patchEmbed(maskCanvas, B, g, weight);
  const maskToken = weight('model.embeddings.mask_token');
  const segInput = weight('model.embeddings.segment_token_input');
  const segPrompt = weight('model.embeddings.segment_token_prompt');
  const embeddingType = inputs.embedding_type ?? 'instance';
  const typeToken = weight(embeddingType === 'semantic' ? 'model.embeddings.type_token_semantic' : 'model.embeddings.type_token_instance');
  const pos = positionEmbedding(g, weight);
  const numPatches = gh * gw;
  const out = new Float64Array(2 * B * numPatches * C);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < numPatches; t++) {
      // bool_masked_pos[num_patches // 2:] = 1 → the mask stream's patch becomes mask_token.
      const masked = t >= Math.floor(numPatches / 2);
      for (let c = 0; c < C; c++) {
        const k = (b * numPatches + t) * C + c;
        const shared = pos[t * C + c] + typeToken[c];
        out[k] = inputEmb[k] + segInput[c] + shared;
        out[B * numPatches * C + k] = (masked ? maskToken[c] : promptEmb[k]) + segPrompt[c] + shared;
      }
    }
  }
  return out;
}

/** SegGptAttention.get_rel_pos: [q_size, k_size, headDim] gathered from a (possibly linearly resized) table. */
export function getRelPos(qSize: number, kSize: number, table: ArrayLike<number>, headDim: number): Float64Array {
  const maxRelDist = 2 * Math.max(qSize, kSize) - 1;
  const resized = interpolateLinearRows(table, table.length / headDim, headDim, maxRelDist);
  const qScale = Math.max(kSize / qSize, 1);
  const kScale = Math.max(qSize / kSize, 1);
  const out = new Float64Array(qSize * kSize * headDim);
  for (let i = 0; i < qSize; i++) {
    for (let j = 0; j < kSize; j++) {
      const rel = Math.trunc(i * qScale - j * kScale + (kSize - 1) * kScale); // .long() truncates
      for (let c = 0; c < headDim; c++) out[(i * kSize + j) * headDim + c] = resized[rel * headDim + c];
    }
  }
  return out;
}

/** SegGptAttention.forward on x [N, gh, gw, C] (already layer-normed). */
function attention(x: Float64Array, N: number, g: Geometry, config: SegGPTConfigFields, prefix: string, weight: WeightGetter): Float64Array {
  const { C, heads, headDim, gh, gw } = g;
  const T = gh * gw;
  const qkv = linear(x, N * T, C, weight(`${prefix}.qkv.weight`), config.qkv_bias ? weight(`${prefix}.qkv.bias`) : null, 3 * C);
  // reshape(N, T, 3, heads, headDim).permute(2, 0, 3, 1, 4): q/k/v[n, head, t, c] = qkv[n, t, which·C + head·headDim + c]
  const at = (which: number, n: number, head: number, t: number, c: number): number => qkv[(n * T + t) * 3 * C + which * C + head * headDim + c];
  const scale = headDim ** -0.5;
  const relH = config.use_relative_position_embeddings ? getRelPos(gh, gh, weight(`${prefix}.rel_pos_h`), headDim) : null;
  const relW = config.use_relative_position_embeddings ? getRelPos(gw, gw, weight(`${prefix}.rel_pos_w`), headDim) : null;

  const merged = new Float64Array(N * T * C);
  const scores = new Float64Array(T);
  for (let n = 0; n < N; n++) {
    for (let head = 0; head < heads; head++) {
      for (let t = 0; t < T; t++) {
        const qy = Math.floor(t / gw);
        const qx = t % gw;
        // rel_h[ky] = Σ_c q·Rh[qy, ky], rel_w[kx] = Σ_c q·Rw[qx, kx], both with the unscaled query.
        const relHRow = new Float64Array(gh);
        const relWRow = new Float64Array(gw);
        if (relH && relW) {
          for (let ky = 0; ky < gh; ky++) {
            let acc = 0;
            for (let c = 0; c < headDim; c++) acc += at(0, n, head, t, c) * relH[(qy * gh + ky) * headDim + c];
            relHRow[ky] = acc;
          }
          for (let kx = 0; kx < gw; kx++) {
            let acc = 0;
            for (let c = 0; c < headDim; c++) acc += at(0, n, head, t, c) * relW[(qx * gw + kx) * headDim + c];
            relWRow[kx] = acc;
          }
        }
        let max = -Infinity;
        for (let s = 0; s < T; s++) {
          let dot = 0;
          for (let c = 0; c < headDim; c++) dot += at(0, n, head, t, c) * scale * at(1, n, head, s, c);
          scores[s] = dot + relHRow[Math.floor(s / gw)] + relWRow[s % gw];
          max = Math.max(max, scores[s]);
        }
        let sum = 0;
        for (let s = 0; s < T; s++) {
          scores[s] = Math.exp(scores[s] - max);
          sum += scores[s];
        }
        // (attn @ v).reshape(N, heads, gh, gw, hd).permute(0, 2, 3, 1, 4): channel = head·headDim + c
        for (let c = 0; c < headDim; c++) {
          let acc = 0;
          for (let s = 0; s < T; s++) acc += (scores[s] / sum) * at(2, n, head, s, c);
          merged[(n * T + t) * C + head * headDim + c] = acc;
        }
      }
    }
  }
  return linear(merged, N * T, C, weight(`${prefix}.proj.weight`), weight(`${prefix}.proj.bias`), C);
}

/**
 * SegGptLayer's feature ensemble, in place on the attention output [N, gh, gw, C]: the bottom half of the patch
 * rows (split at gh // 2) is averaged over prompts within each stream (ensembleCond 2) or over all N rows (1).
 */
function featureEnsemble(attn: Float64Array, N: number, g: Geometry, ensembleCond: number): void {
  const { C, gh, gw } = g;
  const T = gh * gw;
  const start = Math.floor(gh / 2) * gw; // first token of the bottom half
  const groups = ensembleCond === 2 ? 2 : 1;
  const perGroup = N / groups; // ensembleCond 2: num_prompts = N // 2 per stream
  for (let group = 0; group < groups; group++) {
    for (let k = start * C; k < T * C; k++) {
      let mean = 0;
      for (let m = 0; m < perGroup; m++) mean += attn[(group * perGroup + m) * T * C + k];
      mean /= perGroup;
      for (let m = 0; m < perGroup; m++) attn[(group * perGroup + m) * T * C + k] = mean;
    }
  }
}

function encoderLayer(
  hidden: Float64Array,
  N: number,
  layer: number,
  featureEnsembleOn: boolean,
  g: Geometry,
  config: SegGPTConfigFields,
  weight: WeightGetter,
): Float64Array {
  const prefix = `model.encoder.layers.${layer}`;
  const rows = N * g.gh * g.gw;
  const eps = config.layer_norm_eps;
  const normed = layerNorm(hidden, rows, g.C, weight(`${prefix}.layernorm_before.weight`), weight(`${prefix}.layernorm_before.bias`), eps);
  const attn = attention(normed, N, g, config, `${prefix}.attention`, weight);
  // SegGptEncoder: ensemble_cond = 2 if merge_index > i else 1; SegGptLayer: `attention_output.shape[0] // 2 >= ensemble_cond`
  const ensembleCond = config.merge_index > layer ? 2 : 1;
  if (featureEnsembleOn && Math.floor(N / 2) >= ensembleCond) featureEnsemble(attn, N, g, ensembleCond);
  const afterAttn = new Float64Array(rows * g.C);
  for (let k = 0; k < afterAttn.length; k++) afterAttn[k] = attn[k] + hidden[k];
  const normed2 = layerNorm(afterAttn, rows, g.C, weight(`${prefix}.layernorm_after.weight`), weight(`${prefix}.layernorm_after.bias`), eps);
  const act = activation(config.hidden_act);
  const lin1 = linear(normed2, rows, g.C, weight(`${prefix}.mlp.lin1.weight`), weight(`${prefix}.mlp.lin1.bias`), config.mlp_dim);
  for (let k = 0; k < lin1.length; k++) lin1[k] = act(lin1[k]);
  const lin2 = linear(lin1, rows, config.mlp_dim, weight(`${prefix}.mlp.lin2.weight`), weight(`${prefix}.mlp.lin2.bias`), g.C);
  for (let k = 0; k < lin2.length; k++) lin2[k] += afterAttn[k];
  return lin2;
}

/** SegGptDecoder + SegGptDecoderHead: [B, gh, gw, C·k] features → [B, 3, gh·p, gw·p]. */
function decoder(features: Float64Array, B: number, g: Geometry, config: SegGPTConfigFields, weight: WeightGetter): Float64Array {
  const { p, gh, gw } = g;
  const d = config.decoder_hidden_size;
  const inF = g.C * config.intermediate_hidden_state_indices.length;
  const embedded = linear(features, B * gh * gw, inF, weight('decoder.decoder_embed.weight'), weight('decoder.decoder_embed.bias'), p * p * d);
  // reshape(B, gh, gw, p, p, d).permute(0, 5, 1, 3, 2, 4): pixel (gi·p + py, gj·p + px) of channel ch.
  const H = gh * p;
  const W = gw * p;
  const image = new Float64Array(B * d * H * W);
  for (let b = 0; b < B; b++)
    for (let gi = 0; gi < gh; gi++)
      for (let gj = 0; gj < gw; gj++)
        for (let py = 0; py < p; py++)
          for (let px = 0; px < p; px++)
            for (let ch = 0; ch < d; ch++) {
              image[((b * d + ch) * H + gi * p + py) * W + gj * p + px] = embedded[((b * gh + gi) * gw + gj) * p * p * d + (py * p + px) * d + ch];
            }

  // Conv2d(d, d, 3, padding=1)
  const convW = weight('decoder.decoder_pred.conv.weight'); // [d, d, 3, 3]
  const convB = weight('decoder.decoder_pred.conv.bias');
  const conv = new Float64Array(B * d * H * W);
  for (let b = 0; b < B; b++)
    for (let o = 0; o < d; o++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          let acc = convB[o];
          for (let i = 0; i < d; i++)
            for (let ky = 0; ky < 3; ky++) {
              const yy = y + ky - 1;
              if (yy < 0 || yy >= H) continue;
              for (let kx = 0; kx < 3; kx++) {
                const xx = x + kx - 1;
                if (xx < 0 || xx >= W) continue;
                acc += convW[((o * d + i) * 3 + ky) * 3 + kx] * image[((b * d + i) * H + yy) * W + xx];
              }
            }
          conv[((b * d + o) * H + y) * W + x] = acc;
        }

  // SegGptLayerNorm channels_first: normalise over the channel axis per pixel, then weight/bias, then the activation.
  const lnW = weight('decoder.decoder_pred.layernorm.weight');
  const lnB = weight('decoder.decoder_pred.layernorm.bias');
  const act = activation(config.hidden_act);
  const headW = weight('decoder.decoder_pred.head.weight'); // [3, d, 1, 1]
  const headB = weight('decoder.decoder_pred.head.bias');
  const out = new Float64Array(B * 3 * H * W);
  const pixel = new Float64Array(d);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        let mean = 0;
        for (let ch = 0; ch < d; ch++) mean += conv[((b * d + ch) * H + y) * W + x];
        mean /= d;
        let variance = 0;
        for (let ch = 0; ch < d; ch++) variance += (conv[((b * d + ch) * H + y) * W + x] - mean) ** 2;
        variance /= d;
        const denom = Math.sqrt(variance + config.layer_norm_eps);
        for (let ch = 0; ch < d; ch++) pixel[ch] = act(lnW[ch] * ((conv[((b * d + ch) * H + y) * W + x] - mean) / denom) + lnB[ch]);
        for (let o = 0; o < 3; o++) {
          let acc = headB[o];
          for (let ch = 0; ch < d; ch++) acc += headW[o * d + ch] * pixel[ch];
          out[((b * 3 + o) * H + y) * W + x] = acc;
        }
      }
  return out;
}

/** HF `SegGptForImageSegmentation(pixel_values, prompt_pixel_values, prompt_masks, feature_ensemble, embedding_type)`. */
export function referenceForward(config: SegGPTConfigFields, weight: WeightGetter, inputs: ReferenceInputs): ReferenceOutputs {
  const g = geometry(config);
  const perImage = 3 * g.h * g.w;
  const B = inputs.pixel_values.length / perImage;
  for (const key of ['pixel_values', 'prompt_pixel_values', 'prompt_masks'] as const) {
    if (inputs[key].length !== B * perImage || !Number.isInteger(B) || B < 1) {
      throw new Error(`reference: ${key} must be [B, 3, ${g.h}, ${g.w}] with the same B for all three inputs`);
    }
  }
  const T = g.gh * g.gw;
  let hidden = embeddings(inputs, B, g, config, weight);
  let N = 2 * B;
  const norms: Float64Array[] = [];
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    hidden = encoderLayer(hidden, N, layer, inputs.feature_ensemble ?? false, g, config, weight);
    if (layer === config.merge_index) {
      // (hidden[:N // 2] + hidden[N // 2:]) * 0.5
      const half = Math.floor(N / 2);
      const merged = new Float64Array(half * T * g.C);
      for (let k = 0; k < merged.length; k++) merged[k] = (hidden[k] + hidden[half * T * g.C + k]) * 0.5;
      hidden = merged;
      N = half;
    }
    if (config.intermediate_hidden_state_indices.includes(layer)) {
      if (N !== B) throw new Error(`reference: intermediate layer ${layer} comes before merge_index ${config.merge_index} (HF fails on torch.cat)`);
      norms.push(layerNorm(hidden, N * T, g.C, weight('model.encoder.layernorm.weight'), weight('model.encoder.layernorm.bias'), config.layer_norm_eps));
    }
  }
  // torch.cat(intermediate_features, dim=-1)
  const k = norms.length;
  const features = new Float64Array(B * T * g.C * k);
  for (let r = 0; r < B * T; r++)
    for (let f = 0; f < k; f++)
      for (let c = 0; c < g.C; c++) features[(r * k + f) * g.C + c] = norms[f][r * g.C + c];
  return {
    batch_size: B,
    pred_masks: decoder(features, B, g, config, weight),
    last_hidden_state: hidden,
    intermediate_hidden_states: features,
  };
}

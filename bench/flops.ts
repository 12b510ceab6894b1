import type { SegGPTConfigFields } from '../src/configs/seggpt_config_fields.js';

/**
 * Analytic FLOP count (2 per multiply-add) of one SegGptForImageSegmentation forward for `prompts` prompt/query
 * pairs: every matmul and convolution, attention (scores, rel-pos terms, ·v) included. Element-wise ops,
 * softmax and LayerNorm are memory-bound and left out, so FLOPs / peak GEMM rate is a lower bound on time.
 */
export interface FlopBreakdown {
  patch_embed: number;
  linear: number;
  attention: number;
  rel_pos: number;
  decoder: number;
  total: number;
}

export function segGPTFlops(config: SegGPTConfigFields, prompts = 1): FlopBreakdown {
  const C = config.hidden_size;
  const heads = config.num_attention_heads;
  const headDim = C / heads;
  const p = config.patch_size;
  const gridH = config.image_size[0] / p;
  const gridW = config.image_size[1] / p;
  const tokens = gridH * gridW;
  const M = config.mlp_dim;
  const d = config.decoder_hidden_size;
  const pixels = config.image_size[0] * config.image_size[1];
  const features = C * config.intermediate_hidden_state_indices.length;

  // Both canvases (images, masks) go through the same patch Conv2d.
  const patch_embed = 2 * (2 * prompts * tokens) * (config.num_channels * p * p) * C;

  let linear = 0;
  let attention = 0;
  let rel_pos = 0;
  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    // The input and mask streams share the batch until they are averaged after layer merge_index.
    const batch = layer <= config.merge_index ? 2 * prompts : prompts;
    const T = batch * tokens;
    linear += 2 * T * C * (3 * C) + 2 * T * C * C + 2 * 2 * T * C * M;
    attention += 2 * (2 * batch * heads * tokens * tokens * headDim);
    if (config.use_relative_position_embeddings) rel_pos += 2 * batch * heads * tokens * (gridH + gridW) * headDim;
  }

  const decoder =
    2 * prompts * tokens * features * (p * p * d) + // decoder_embed Linear
    2 * prompts * pixels * d * d * 9 + // Conv3×3
    2 * prompts * pixels * d * 3; // Conv1×1 head → RGB
  const total = patch_embed + linear + attention + rel_pos + decoder;
  return { patch_embed, linear, attention, rel_pos, decoder, total };
}

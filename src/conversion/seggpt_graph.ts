/**
 * The ONNX graph of SegGptForImageSegmentation, built from a config and its checkpoint.
 *
 * One function per module of the reference's tree (embeddings → encoder layers → decoder), each
 * taking exactly the weights under its prefix. Everything that depends only on the config and
 * the weights (interpolated position embeddings, gathered relative-position tables, token sums)
 * is folded into constants at build time.
 *
 * I/O contract (documented in the README):
 *   pixel_values, prompt_pixel_values, prompt_masks: float32 [batch, 3, h, w]
 *   embedding_type: int64 [1] (0 = semantic, 1 = instance); feature_ensemble: bool [1]
 *   pred_masks: float32 [batch, 3, 2h, w]; last_hidden_state: float32 [batch, 2h/p, w/p, hidden]
 */
import { type SegGPTConfigFields, segGPTGeometry, supportsFeatureEnsemble } from '../configs/seggpt_config_fields.js';
import { bytesOf, DataType, Graph } from './onnx/graph.js';
import { activation, add, concat, layerNorm, matmul, mul, reshape, slice, transpose } from './onnx/ops.js';
import { bicubicResizeHWC, linearResizeRows } from './torch_interpolate.js';
import { type WeightPlan, type WeightReader, fp32Plan } from './weight_plan.js';

export type { WeightReader } from './weight_plan.js';

export const OPSET = 17;

export const GRAPH_INPUTS = ['pixel_values', 'prompt_pixel_values', 'prompt_masks', 'embedding_type', 'feature_ensemble'] as const;
export const GRAPH_OUTPUTS = ['pred_masks', 'last_hidden_state'] as const;

interface Geometry {
  /** height and width of one half (one image) in pixels */
  h: number;
  w: number;
  p: number;
  /** patch grid of the whole canvas (prompt over query) */
  gh: number;
  gw: number;
  hidden: number;
  heads: number;
  headDim: number;
}

interface Ctx {
  g: Graph;
  config: SegGPTConfigFields;
  geo: Geometry;
  weights: WeightReader;
  plan: WeightPlan;
  attention: AttentionForm;
  /** Constants shared by every layer, by name. */
  shared: Map<string, string>;
}

/**
 * How the encoder's attention is written:
 * - 'fused' (default): one com.microsoft MultiHeadAttention per layer, which onnxruntime (CPU, WebAssembly, WebGPU,
 *   CUDA) runs without materialising the score maps — on the full-size model about 0.55 GB less peak memory, and
 *   faster in fp32 (bench/, BENCHMARKS.md);
 * - 'decomposed': standard ONNX ops only (MatMul, Add, Softmax), for runtimes without onnxruntime's contrib ops.
 */
export type AttentionForm = 'fused' | 'decomposed';
export const ATTENTION_FORMS: readonly AttentionForm[] = ['fused', 'decomposed'];
export const DEFAULT_ATTENTION: AttentionForm = 'fused';

export interface GraphOptions {
  attention?: AttentionForm;
}

export function geometryOf(config: SegGPTConfigFields): Geometry {
  const g = segGPTGeometry(config);
  return {
    h: g.image_height,
    w: g.image_width,
    p: config.patch_size,
    gh: g.grid_h,
    gw: g.grid_w,
    hidden: config.hidden_size,
    heads: config.num_attention_heads,
    headDim: g.head_dim,
  };
}

export async function buildSegGPTGraph(config: SegGPTConfigFields, weights: WeightReader, plan: WeightPlan = fp32Plan, options: GraphOptions = {}): Promise<Graph> {
  const g = new Graph('seggpt', OPSET);
  const geo = geometryOf(config);
  const ctx: Ctx = { g, config, geo, weights, plan, attention: options.attention ?? DEFAULT_ATTENTION, shared: new Map() };
  const imageDims = ['batch', config.num_channels, geo.h, geo.w];
  const pixelValues = g.input('pixel_values', DataType.FLOAT, imageDims);
  const promptPixelValues = g.input('prompt_pixel_values', DataType.FLOAT, imageDims);
  const promptMasks = g.input('prompt_masks', DataType.FLOAT, imageDims);
  const embeddingType = g.input('embedding_type', DataType.INT64, [1]);
  const featureEnsemble = g.input('feature_ensemble', DataType.BOOL, [1]);

  let hidden = await embeddings(ctx, 'model.embeddings', pixelValues, promptPixelValues, promptMasks, embeddingType);
  hidden = plan.toActivation(g, hidden, 'model.embeddings.cast');
  const { last, intermediates } = await encoder(ctx, 'model.encoder', hidden, featureEnsemble);
  const predMasks = await decoder(ctx, 'decoder', intermediates);

  g.output(plan.toFloat32(g, predMasks, 'decoder.output.cast'), 'pred_masks', DataType.FLOAT, ['batch', 3, 2 * geo.h, geo.w]);
  g.output(plan.toFloat32(g, last, 'model.encoder.output.cast'), 'last_hidden_state', DataType.FLOAT, ['batch', geo.gh, geo.gw, geo.hidden]);
  return g;
}

// ---------------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------------

async function embeddings(
  ctx: Ctx,
  prefix: string,
  pixelValues: string,
  promptPixelValues: string,
  promptMasks: string,
  embeddingType: string,
): Promise<string> {
  const { g, geo, config } = ctx;
  const C = geo.hidden;
  const cells = geo.gh * geo.gw;

  // Both canvases go through the one patch projection, stacked on the batch axis:
  // [image canvases (B); mask canvases (B)] → 2B, the order the reference concatenates the streams.
  const imageCanvas = concat(g, [promptPixelValues, pixelValues], 2, `${prefix}.image_canvas`);
  const maskCanvas = concat(g, [promptMasks, promptMasks], 2, `${prefix}.mask_canvas`);
  const canvases = concat(g, [imageCanvas, maskCanvas], 0, `${prefix}.canvases`);
  const projection = `${prefix}.patch_embeddings.projection`;
  const conv = g.node(
    'Conv',
    [
      canvases,
      g.initializer(`${projection}.weight`, DataType.FLOAT, [C, config.num_channels, geo.p, geo.p], async () => bytesOf(await ctx.weights.readFloat32(`${projection}.weight`)), [
        `${projection}.weight`,
      ]),
      g.initializer(`${projection}.bias`, DataType.FLOAT, [C], async () => bytesOf(await ctx.weights.readFloat32(`${projection}.bias`)), [`${projection}.bias`]),
    ],
    { kernel_shape: [geo.p, geo.p], strides: [geo.p, geo.p] },
    { name: projection },
  );
  const patches = transpose(g, conv, [0, 2, 3, 1], `${projection}.nhwc`); // [2B, gh, gw, C]

  // Per-stream constants. Stream 0 (image canvas): + segment_token_input + pos.
  // Stream 1 (mask canvas): answer-half patches replaced by mask_token, + segment_token_prompt + pos.
  const read = (n: string) => ctx.weights.readFloat32(`${prefix}.${n}`);
  const [maskToken, segInput, segPrompt, posRaw] = await Promise.all([read('mask_token'), read('segment_token_input'), read('segment_token_prompt'), read('position_embeddings')]);
  const pos = interpolatedPositions(posRaw, C, geo.gh, geo.gw);
  const keep = new Float32Array(2 * cells);
  const addend = new Float32Array(2 * cells * C);
  // The reference's default bool_masked_pos: patches from num_patches // 2 on (mid-row when the rows are odd).
  const maskedFrom = Math.floor(cells / 2);
  for (let i = 0; i < cells; i++) {
    keep[i] = 1;
    keep[cells + i] = i >= maskedFrom ? 0 : 1;
    for (let c = 0; c < C; c++) {
      addend[i * C + c] = segInput[c] + pos[i * C + c];
      const base = i >= maskedFrom ? maskToken[c] : 0;
      addend[(cells + i) * C + c] = base + segPrompt[c] + pos[i * C + c];
    }
  }
  const streams = reshape(g, patches, [2, -1, geo.gh, geo.gw, C], `${prefix}.streams`);
  const kept = mul(g, streams, g.constant(`${prefix}.keep`, DataType.FLOAT, [2, 1, geo.gh, geo.gw, 1], keep), `${prefix}.masked`);
  const positioned = add(g, kept, g.constant(`${prefix}.stream_addend`, DataType.FLOAT, [2, 1, geo.gh, geo.gw, C], addend), `${prefix}.positioned`);

  const [semantic, instance] = await Promise.all([read('type_token_semantic'), read('type_token_instance')]);
  const typeTable = new Float32Array(2 * C);
  typeTable.set(semantic, 0);
  typeTable.set(instance, C);
  const typeToken = g.node('Gather', [g.constant(`${prefix}.type_tokens`, DataType.FLOAT, [2, C], typeTable), embeddingType], { axis: 0 }, { name: `${prefix}.type_token` });
  const typed = add(g, positioned, typeToken, `${prefix}.typed`);
  return reshape(g, typed, [-1, geo.gh, geo.gw, C], `${prefix}.output`); // [2B, gh, gw, C]
}

/** position_embeddings [1, 1 + s², C] → CLS dropped, the s×s grid resized bicubically to gh×gw. */
function interpolatedPositions(raw: Float32Array, C: number, gh: number, gw: number): Float32Array {
  const cells = raw.length / C - 1;
  const s = Math.round(Math.sqrt(cells));
  return bicubicResizeHWC(raw.subarray(C), s, s, C, gh, gw);
}

// ---------------------------------------------------------------------------------------------
// Encoder
// ---------------------------------------------------------------------------------------------

async function encoder(ctx: Ctx, prefix: string, input: string, featureEnsemble: string): Promise<{ last: string; intermediates: string[] }> {
  const { g, config, geo } = ctx;
  const norm = ctx.plan.normParams(g, `${prefix}.layernorm`, ctx.weights, geo.hidden);
  const intermediates: string[] = [];
  let hidden = input;
  for (let i = 0; i < config.num_hidden_layers; i++) {
    const layerPrefix = `${prefix}.layers.${i}`;
    const ensemble: EnsembleScope = i < config.merge_index ? 'per_stream' : 'whole_batch';
    hidden = await encoderLayer(ctx, layerPrefix, hidden, featureEnsemble, ensemble);
    if (i === config.merge_index) {
      // (hidden[:B] + hidden[B:]) · 0.5 — the two streams become one.
      const [a, b] = g.nodeMulti('Split', [reshape(g, hidden, [2, -1, geo.gh, geo.gw, geo.hidden], `${layerPrefix}.merge.streams`)], { axis: 0 }, { name: `${layerPrefix}.merge.split`, outputs: 2 });
      const sum = add(g, a, b, `${layerPrefix}.merge.sum`);
      const half = mul(g, sum, ctx.plan.scalar(g, `${layerPrefix}.merge.half`, 0.5), `${layerPrefix}.merge.mean`);
      hidden = reshape(g, half, [-1, geo.gh, geo.gw, geo.hidden], `${layerPrefix}.merge`);
    }
    if (config.intermediate_hidden_state_indices.includes(i)) {
      intermediates.push(ctx.plan.layerNorm(g, hidden, norm, config.layer_norm_eps, `${prefix}.layernorm.${i}`));
    }
  }
  return { last: hidden, intermediates };
}

type EnsembleScope = 'per_stream' | 'whole_batch';

async function encoderLayer(ctx: Ctx, prefix: string, hidden: string, featureEnsemble: string, ensemble: EnsembleScope): Promise<string> {
  const { g, config, geo, plan } = ctx;
  const ln1 = plan.normParams(g, `${prefix}.layernorm_before`, ctx.weights, geo.hidden);
  const ln2 = plan.normParams(g, `${prefix}.layernorm_after`, ctx.weights, geo.hidden);

  const normed = plan.layerNorm(g, hidden, ln1, config.layer_norm_eps, `${prefix}.layernorm_before`);
  let attended = await attention(ctx, `${prefix}.attention`, normed);
  attended = featureEnsembled(ctx, `${prefix}.feature_ensemble`, attended, featureEnsemble, ensemble);
  const residual = add(g, attended, hidden, `${prefix}.residual_1`);

  const normed2 = plan.layerNorm(g, residual, ln2, config.layer_norm_eps, `${prefix}.layernorm_after`);
  const lin1 = plan.linear(g, normed2, `${prefix}.mlp.lin1`, ctx.weights, geo.hidden, config.mlp_dim, true);
  const act = plan.inFloat32(g, lin1, `${prefix}.mlp.act`, (x32) => activation(g, x32, config.hidden_act, `${prefix}.mlp.act.fn`));
  const lin2 = plan.linear(g, act, `${prefix}.mlp.lin2`, ctx.weights, config.mlp_dim, geo.hidden, true);
  return add(g, lin2, residual, `${prefix}.output`);
}

/**
 * Feature ensemble: the answer half of the attention output is averaged — over the prompts of each
 * stream before merge_index, over the whole batch from merge_index on (at merge_index itself the
 * batch still holds both streams, so the reference averages them together too). The reference's
 * extra batch-size condition only ever skips averages over a single row, which are identities.
 */
function featureEnsembled(ctx: Ctx, prefix: string, x: string, featureEnsemble: string, scope: EnsembleScope): string {
  const { g, geo } = ctx;
  // The reference cannot split an odd number of patch rows in two and fails there; the model class refuses
  // feature_ensemble for such checkpoints before running (supportsFeatureEnsemble), so the input is ignored.
  if (!supportsFeatureEnsemble(ctx.config)) return x;
  const half = geo.gh / 2;
  const top = slice(g, x, 1, 0, half, `${prefix}.prompt_half`);
  const bottom = slice(g, x, 1, half, geo.gh, `${prefix}.answer_half`);
  let averaged: string;
  if (scope === 'per_stream') {
    const streams = reshape(g, bottom, [2, -1, half, geo.gw, geo.hidden], `${prefix}.streams`);
    const mean = g.node('ReduceMean', [streams], { axes: [1], keepdims: 1 }, { name: `${prefix}.mean` });
    const spread = g.node('Expand', [mean, g.node('Shape', [streams], {}, { name: `${prefix}.shape` })], {}, { name: `${prefix}.expand` });
    averaged = reshape(g, spread, [-1, half, geo.gw, geo.hidden], `${prefix}.averaged`);
  } else {
    const mean = g.node('ReduceMean', [bottom], { axes: [0], keepdims: 1 }, { name: `${prefix}.mean` });
    averaged = g.node('Expand', [mean, g.node('Shape', [bottom], {}, { name: `${prefix}.shape` })], {}, { name: `${prefix}.averaged` });
  }
  const ensembled = concat(g, [top, averaged], 1, `${prefix}.ensembled`);
  return g.node('Where', [featureEnsemble, ensembled, x], {}, { name: prefix });
}

async function attention(ctx: Ctx, prefix: string, x: string): Promise<string> {
  if (ctx.attention === 'fused') return fusedAttention(ctx, prefix, x);
  const { g, config, geo, plan } = ctx;
  const { gh, gw, heads, headDim, hidden } = geo;
  const N = gh * gw;

  const qkv = plan.linear(g, x, `${prefix}.qkv`, ctx.weights, hidden, 3 * hidden, config.qkv_bias);
  // [R, gh, gw, 3C] → [3, R, heads, N, d]
  const split = transpose(g, reshape(g, qkv, [-1, N, 3, heads, headDim], `${prefix}.qkv.heads`), [2, 0, 3, 1, 4], `${prefix}.qkv.split_heads`);
  const [q3, k3, v3] = g.nodeMulti('Split', [split], { axis: 0 }, { name: `${prefix}.qkv.split`, outputs: 3 });
  const q = reshape(g, q3, [-1, heads, N, headDim], `${prefix}.query`);
  const k = reshape(g, k3, [-1, heads, N, headDim], `${prefix}.key`);
  const v = reshape(g, v3, [-1, heads, N, headDim], `${prefix}.value`);

  const scaled = mul(g, q, plan.scalar(g, `${prefix}.scale`, Math.fround(Math.pow(headDim, -0.5))), `${prefix}.query_scaled`);
  let scores = matmul(g, scaled, transpose(g, k, [0, 1, 3, 2], `${prefix}.key_t`), `${prefix}.scores`); // [R, heads, N, N]

  // Scores, their relative-position sums and the softmax are float32 in every variant.
  scores = plan.toFloat32(g, scores, `${prefix}.scores.fp32`);
  if (config.use_relative_position_embeddings) {
    scores = await addDecomposedRelPos(ctx, prefix, scores, q);
  }
  const probs = plan.softmax(g, scores, `${prefix}.probs`);
  const context = matmul(g, probs, v, `${prefix}.context`); // [R, heads, N, d]
  const merged = reshape(g, transpose(g, context, [0, 2, 1, 3], `${prefix}.context_t`), [-1, gh, gw, hidden], `${prefix}.context_merged`);
  return plan.linear(g, merged, `${prefix}.proj`, ctx.weights, hidden, hidden, true);
}

/**
 * Attention as one com.microsoft MultiHeadAttention, which onnxruntime runs without materialising the score maps
 * (flash attention on CPU). The decomposed relative positions ride inside the dot product: each query gains its
 * rel_h and rel_w rows, each key the one-hot of its row and column, so q'·k' = scale·q·k + rel_h[ky] + rel_w[kx].
 */
async function fusedAttention(ctx: Ctx, prefix: string, x: string): Promise<string> {
  const { g, config, geo, plan } = ctx;
  const { gh, gw, heads, headDim, hidden } = geo;
  const N = gh * gw;
  const scale = Math.fround(Math.pow(headDim, -0.5));
  const qkv = plan.linear(g, x, `${prefix}.qkv`, ctx.weights, hidden, 3 * hidden, config.qkv_bias);
  const [q3, k3, v3] = g.nodeMulti('Split', [reshape(g, qkv, [-1, N, 3, heads, headDim], `${prefix}.qkv.heads`)], { axis: 2 }, { name: `${prefix}.qkv.split`, outputs: 3 });
  const v = plan.toFloat32(g, reshape(g, v3, [-1, N, hidden], `${prefix}.value`), `${prefix}.value.fp32`);
  let q: string;
  let k: string;
  let qkScale = scale;
  if (config.use_relative_position_embeddings) {
    const q5 = reshape(g, q3, [-1, gh, gw, heads, headDim], `${prefix}.query`);
    const [relH, relW] = await Promise.all([ctx.weights.readFloat32(`${prefix}.rel_pos_h`), ctx.weights.readFloat32(`${prefix}.rel_pos_w`)]);
    const tableH = plan.constant(g, `${prefix}.rel_pos_h.gathered_t`, [gh, headDim, gh], gatheredRelPosTransposed(relH, headDim, gh));
    const tableW = plan.constant(g, `${prefix}.rel_pos_w.gathered_t`, [gw, headDim, gw], gatheredRelPosTransposed(relW, headDim, gw));
    // rel_h: rows y batched → [gh, R·gw·heads, d] · [gh, d, gh] → [R, gh, gw, heads, gh]
    const qByRow = reshape(g, transpose(g, q5, [1, 0, 2, 3, 4], `${prefix}.rel.query_rows`), [gh, -1, headDim], `${prefix}.rel.query_rows_flat`);
    const relRows = reshape(g, matmul(g, qByRow, tableH, `${prefix}.rel_h`), [gh, -1, gw, heads, gh], `${prefix}.rel_h.split`);
    const relHOut = transpose(g, relRows, [1, 0, 2, 3, 4], `${prefix}.rel_h.ordered`);
    // rel_w: columns x batched → [gw, R·gh·heads, d] · [gw, d, gw] → [R, gh, gw, heads, gw]
    const qByCol = reshape(g, transpose(g, q5, [2, 0, 1, 3, 4], `${prefix}.rel.query_cols`), [gw, -1, headDim], `${prefix}.rel.query_cols_flat`);
    const relCols = reshape(g, matmul(g, qByCol, tableW, `${prefix}.rel_w`), [gw, -1, gh, heads, gw], `${prefix}.rel_w.split`);
    const relWOut = transpose(g, relCols, [1, 2, 0, 3, 4], `${prefix}.rel_w.ordered`);
    const scaled = mul(g, q5, plan.scalar(g, `${prefix}.scale`, scale), `${prefix}.query_scaled`);
    const augmented = concat(g, [scaled, relHOut, relWOut], -1, `${prefix}.query_augmented`);
    q = plan.toFloat32(g, reshape(g, augmented, [-1, N, heads * (headDim + gh + gw)], `${prefix}.query_packed`), `${prefix}.query.fp32`);
    // Zero-padded keys plus the broadcast one-hots: no shape arithmetic, so every node stays on a GPU provider.
    const k4 = reshape(g, k3, [-1, N, heads, headDim], `${prefix}.key`);
    const padded = g.node('Pad', [k4, g.int64s(`${prefix}.key.pads`, [0, 0, 0, 0, 0, 0, 0, gh + gw])], {}, { name: `${prefix}.key.padded` });
    const keyAugmented = add(g, padded, keyPositionOneHots(ctx), `${prefix}.key_augmented`);
    k = plan.toFloat32(g, reshape(g, keyAugmented, [-1, N, heads * (headDim + gh + gw)], `${prefix}.key_packed`), `${prefix}.key.fp32`);
    qkScale = 1;
  } else {
    q = plan.toFloat32(g, reshape(g, q3, [-1, N, hidden], `${prefix}.query_packed`), `${prefix}.query.fp32`);
    k = plan.toFloat32(g, reshape(g, k3, [-1, N, hidden], `${prefix}.key_packed`), `${prefix}.key.fp32`);
  }
  const context = g.node('MultiHeadAttention', [q, k, v], { num_heads: heads, scale: { type: 'float', value: qkScale } }, { name: `${prefix}.mha`, domain: 'com.microsoft' });
  const merged = reshape(g, plan.toActivation(g, context, `${prefix}.context.cast`), [-1, gh, gw, hidden], `${prefix}.context_merged`);
  return plan.linear(g, merged, `${prefix}.proj`, ctx.weights, hidden, hidden, true);
}

/** [1, N, 1, d + gh + gw]: for key (ky, kx), zeros over the head's d features, a one at d + ky and one at d + gh + kx (shared by every layer). */
function keyPositionOneHots(ctx: Ctx): string {
  const { g, geo, plan } = ctx;
  const { gh, gw, headDim } = geo;
  const name = 'model.encoder.key_position_onehots';
  const existing = ctx.shared.get(name);
  if (existing) return existing;
  const width = headDim + gh + gw;
  const data = new Float32Array(gh * gw * width);
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      const row = (y * gw + x) * width + headDim;
      data[row + y] = 1;
      data[row + gh + x] = 1;
    }
  }
  const value = plan.constant(g, name, [1, gh * gw, 1, width], data);
  ctx.shared.set(name, value);
  return value;
}

/**
 * scores[r, h, (y, x), (ky, kx)] += q[r, h, y, x] · Rh[y, ky] + q[r, h, y, x] · Rw[x, kx], with the
 * tables gathered from rel_pos_h / rel_pos_w at build time (and with the unscaled query).
 */
async function addDecomposedRelPos(ctx: Ctx, prefix: string, scores: string, q: string): Promise<string> {
  const { g, geo, plan } = ctx;
  const { gh, gw, heads, headDim } = geo;
  const [relH, relW] = await Promise.all([ctx.weights.readFloat32(`${prefix}.rel_pos_h`), ctx.weights.readFloat32(`${prefix}.rel_pos_w`)]);
  const tableH = plan.constant(g, `${prefix}.rel_pos_h.gathered_t`, [gh, headDim, gh], gatheredRelPosTransposed(relH, headDim, gh));
  const tableW = plan.constant(g, `${prefix}.rel_pos_w.gathered_t`, [gw, headDim, gw], gatheredRelPosTransposed(relW, headDim, gw));

  const q5 = reshape(g, q, [-1, heads, gh, gw, headDim], `${prefix}.rel.query`);
  // rel_h: rows y batched → [gh, R·heads·gw, d] · [gh, d, gh]
  const qByRow = reshape(g, transpose(g, q5, [2, 0, 1, 3, 4], `${prefix}.rel.query_rows`), [gh, -1, headDim], `${prefix}.rel.query_rows_flat`);
  const relRows = matmul(g, qByRow, tableH, `${prefix}.rel_h`); // [gh, R·heads·gw, gh]
  const relHOut = transpose(g, reshape(g, relRows, [gh, -1, heads, gw, gh], `${prefix}.rel_h.split`), [1, 2, 0, 3, 4], `${prefix}.rel_h.ordered`);
  const relH6 = plan.toFloat32(g, reshape(g, relHOut, [-1, heads, gh, gw, gh, 1], `${prefix}.rel_h.broadcast`), `${prefix}.rel_h.fp32`);
  // rel_w: columns x batched → [gw, R·heads·gh, d] · [gw, d, gw]
  const qByCol = reshape(g, transpose(g, q5, [3, 0, 1, 2, 4], `${prefix}.rel.query_cols`), [gw, -1, headDim], `${prefix}.rel.query_cols_flat`);
  const relCols = matmul(g, qByCol, tableW, `${prefix}.rel_w`); // [gw, R·heads·gh, gw]
  const relWOut = transpose(g, reshape(g, relCols, [gw, -1, heads, gh, gw], `${prefix}.rel_w.split`), [1, 2, 3, 0, 4], `${prefix}.rel_w.ordered`);
  const relW6 = plan.toFloat32(g, reshape(g, relWOut, [-1, heads, gh, gw, 1, gw], `${prefix}.rel_w.broadcast`), `${prefix}.rel_w.fp32`);

  const scores6 = reshape(g, scores, [-1, heads, gh, gw, gh, gw], `${prefix}.scores_grid`);
  const withRel = add(g, add(g, scores6, relH6, `${prefix}.scores_rel_h`), relW6, `${prefix}.scores_rel`);
  return reshape(g, withRel, [-1, heads, gh * gw, gh * gw], `${prefix}.scores_with_rel`);
}

/**
 * get_rel_pos of the reference for q_size = k_size = n: the table resized (linear) to 2n − 1 rows,
 * then R[i, j] = table[i − j + n − 1]. Returned transposed per query row: [n, d, n].
 */
function gatheredRelPosTransposed(relPos: Float32Array, d: number, n: number): Float32Array {
  const resized = linearResizeRows(relPos, relPos.length / d, d, 2 * n - 1);
  const out = new Float32Array(n * d * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const row = (i - j + n - 1) * d;
      for (let c = 0; c < d; c++) out[(i * d + c) * n + j] = resized[row + c];
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoder
// ---------------------------------------------------------------------------------------------

async function decoder(ctx: Ctx, prefix: string, intermediates: string[]): Promise<string> {
  const { g, config, geo, plan } = ctx;
  const { gh, gw, p } = geo;
  const d = config.decoder_hidden_size;
  const features = intermediates.length === 1 ? intermediates[0] : concat(g, intermediates, -1, `${prefix}.features`);
  // The reference reshapes decoder_embed's output as (p, p, d) per patch. Its output features are reordered here
  // to (d, p, p) at build time, so unpatchifying moves contiguous rows of p values instead of single floats.
  const embedded = plan.linear(g, features, `${prefix}.decoder_embed`, ctx.weights, geo.hidden * intermediates.length, p * p * d, true, {
    outputOrder: channelsFirstOrder(p, d),
  });
  // [B, gh, gw, d·p·p] → [B, gh, gw, d, p, p] → [B, d, gh, p, gw, p] → [B, d, gh·p, gw·p]
  const grid = reshape(g, embedded, [-1, gh, gw, d, p, p], `${prefix}.patches`);
  const image = reshape(g, transpose(g, grid, [0, 3, 1, 4, 2, 5], `${prefix}.unpatchify`), [-1, d, gh * p, gw * p], `${prefix}.image`);

  const head = `${prefix}.decoder_pred`;
  const conv = plan.conv(g, image, `${head}.conv`, ctx.weights, [d, d, 3, 3], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] });
  // channels-first LayerNorm = LayerNormalization over the last axis in NHWC; GELU and the 1×1 head
  // (a MatMul over channels) stay in NHWC, and only the 3-channel result goes back to NCHW.
  const nhwc = transpose(g, conv, [0, 2, 3, 1], `${head}.nhwc`);
  const normed = plan.layerNorm(g, nhwc, plan.normParams(g, `${head}.layernorm`, ctx.weights, d), config.layer_norm_eps, `${head}.layernorm`);
  const act = plan.inFloat32(g, normed, `${head}.act`, (x32) => activation(g, x32, config.hidden_act, `${head}.act.fn`));
  // The 1×1 head (weight [3, d, 1, 1], the same bytes as a Linear) is tiny and sets the answer's colours: kept float.
  const rgb = plan.linear(g, act, `${head}.head`, ctx.weights, d, 3, true, { keepFloat: true });
  return transpose(g, rgb, [0, 3, 1, 2], `${head}.nchw`);
}

/** decoder_embed's output features from (p1, p2, c) order to (c, p1, p2): new feature c·p² + i·p + j ← (i·p + j)·d + c. */
function channelsFirstOrder(p: number, d: number): Int32Array {
  const order = new Int32Array(p * p * d);
  for (let c = 0; c < d; c++) for (let ij = 0; ij < p * p; ij++) order[c * p * p + ij] = ij * d + c;
  return order;
}

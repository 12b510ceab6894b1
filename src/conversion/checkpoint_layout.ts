import { segGPTGeometry, type SegGPTConfigFields } from '../configs/seggpt_config_fields.js';
import { describeValue } from '../configs/validate.js';
import { CheckpointError } from '../errors.js';
import type { CheckpointWeights } from './safetensors.js';

export interface ExpectedTensor {
  name: string;
  shape: number[];
}

/**
 * Every tensor of HF `SegGptForImageSegmentation.state_dict()` for `config`, in state-dict order
 * (a module's own parameters first, then its children in registration order).
 */
export function expectedTensors(config: SegGPTConfigFields): ExpectedTensor[] {
  const hidden = config.hidden_size;
  const patch = config.patch_size;
  const { head_dim: headDim, grid_h: gridH, grid_w: gridW, pretrain_grid: pretrainGrid } = segGPTGeometry(config);
  const decoder = config.decoder_hidden_size;
  const tensors: ExpectedTensor[] = [];
  const add = (name: string, shape: number[]): void => {
    tensors.push({ name, shape });
  };

  const token = [1, 1, 1, hidden];
  for (const name of ['mask_token', 'segment_token_input', 'segment_token_prompt', 'type_token_semantic', 'type_token_instance']) {
    add(`model.embeddings.${name}`, token);
  }
  // One slot per pretraining patch plus the (unused) CLS slot.
  add('model.embeddings.position_embeddings', [1, pretrainGrid * pretrainGrid + 1, hidden]);
  add('model.embeddings.patch_embeddings.projection.weight', [hidden, config.num_channels, patch, patch]);
  add('model.embeddings.patch_embeddings.projection.bias', [hidden]);

  for (let layer = 0; layer < config.num_hidden_layers; layer++) {
    const prefix = `model.encoder.layers.${layer}`;
    if (config.use_relative_position_embeddings) {
      add(`${prefix}.attention.rel_pos_h`, [2 * gridH - 1, headDim]);
      add(`${prefix}.attention.rel_pos_w`, [2 * gridW - 1, headDim]);
    }
    add(`${prefix}.attention.qkv.weight`, [3 * hidden, hidden]);
    if (config.qkv_bias) add(`${prefix}.attention.qkv.bias`, [3 * hidden]);
    add(`${prefix}.attention.proj.weight`, [hidden, hidden]);
    add(`${prefix}.attention.proj.bias`, [hidden]);
    add(`${prefix}.mlp.lin1.weight`, [config.mlp_dim, hidden]);
    add(`${prefix}.mlp.lin1.bias`, [config.mlp_dim]);
    add(`${prefix}.mlp.lin2.weight`, [hidden, config.mlp_dim]);
    add(`${prefix}.mlp.lin2.bias`, [hidden]);
    add(`${prefix}.layernorm_before.weight`, [hidden]);
    add(`${prefix}.layernorm_before.bias`, [hidden]);
    add(`${prefix}.layernorm_after.weight`, [hidden]);
    add(`${prefix}.layernorm_after.bias`, [hidden]);
  }
  add('model.encoder.layernorm.weight', [hidden]);
  add('model.encoder.layernorm.bias', [hidden]);

  const features = hidden * config.intermediate_hidden_state_indices.length;
  add('decoder.decoder_embed.weight', [patch * patch * decoder, features]);
  add('decoder.decoder_embed.bias', [patch * patch * decoder]);
  add('decoder.decoder_pred.conv.weight', [decoder, decoder, 3, 3]);
  add('decoder.decoder_pred.conv.bias', [decoder]);
  add('decoder.decoder_pred.layernorm.weight', [decoder]);
  add('decoder.decoder_pred.layernorm.bias', [decoder]);
  add('decoder.decoder_pred.head.weight', [3, decoder, 1, 1]);
  add('decoder.decoder_pred.head.bias', [3]);
  return tensors;
}

/** Errors stay one line: name a few offenders, count the rest. */
const MAX_LISTED = 5;

/**
 * Checks that `weights` holds every tensor `config` needs with the right shape. Throws CheckpointError listing the
 * missing and mis-shaped tensors; returns one warning that counts and names a few extra tensors (ignored).
 */
export function checkCheckpointTensors(weights: Pick<CheckpointWeights, 'tensors'>, config: SegGPTConfigFields): string[] {
  const expected = expectedTensors(config);
  const missing: string[] = [];
  const misShaped: string[] = [];
  for (const { name, shape } of expected) {
    const info = weights.tensors.get(name);
    if (!info) missing.push(name);
    else if (!sameShape(info.shape, shape)) misShaped.push(`${name}: expected [${shape.join(', ')}], found ${formatShape(info.shape)} in ${info.file}`);
  }
  if (missing.length > 0 || misShaped.length > 0) {
    const files = [...new Set([...weights.tensors.values()].map((info) => info.file))];
    const parts: string[] = [`the checkpoint (${files.join(', ') || 'no tensors'}) does not match config.json`];
    if (missing.length > 0) parts.push(`${missing.length} missing tensor(s): ${listSome(missing).join(', ')}`);
    if (misShaped.length > 0) parts.push(`${misShaped.length} tensor(s) with the wrong shape: ${listSome(misShaped).join(', ')}`);
    parts.push(
      'fix: use the config.json that belongs to these weights (hidden_size, num_hidden_layers, image_size, patch_size, mlp_dim, ' +
        'qkv_bias, use_relative_position_embeddings, intermediate_hidden_state_indices) or re-download the checkpoint',
    );
    throw new CheckpointError(parts.join('; '));
  }
  const known = new Set(expected.map((t) => t.name));
  const extra = [...weights.tensors.values()].filter((info) => !known.has(info.name));
  if (extra.length === 0) return [];
  const files = [...new Set(extra.map((info) => info.file))].join(', ');
  const named = listSome(extra.map((info) => `${describeValue(info.name)} ${formatShape(info.shape)}`));
  return [`${files}: ${extra.length} tensor(s) not part of SegGptForImageSegmentation, ignored: ${named.join(', ')}`];
}

/** `[a, b, c]`, the first 8 dimensions of a long shape and their count. */
function formatShape(shape: readonly number[]): string {
  return shape.length > 8 ? `[${shape.slice(0, 8).join(', ')}, … (${shape.length} dimensions)]` : `[${shape.join(', ')}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function listSome(items: string[]): string[] {
  return items.length <= MAX_LISTED ? items : [...items.slice(0, MAX_LISTED), `... and ${items.length - MAX_LISTED} more`];
}

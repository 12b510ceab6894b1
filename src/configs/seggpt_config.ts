import { PretrainedConfig } from '@huggingface/transformers';
import {
  parseSegGPTConfig,
  type SegGPTActivation,
  type SegGPTConfigFields,
} from './seggpt_config_fields.js';

export {
  SEGGPT_CONFIG_DEFAULTS,
  SUPPORTED_ACTIVATIONS,
  parseSegGPTConfig,
  segGPTConfigToJSON,
  segGPTGeometry,
  type SegGPTActivation,
  type SegGPTConfigFields,
} from './seggpt_config_fields.js';

/**
 * Transformers.js config for SegGPT: the parsed `config.json` with HF defaults applied and every field validated
 * (a bad value throws SegGPTConfigError at construction, not deep inside a model run).
 *
 * ```javascript
 * import { SegGPTConfig } from 'transformers-seggpt';
 *
 * const config = new SegGPTConfig({ model_type: 'seggpt', hidden_size: 32, num_attention_heads: 4 });
 * console.log(config.image_size, config.mlp_dim); // [ 896, 448 ] 128
 * ```
 */
export class SegGPTConfig extends PretrainedConfig {
  // `declare`: the base constructor assigns these (Object.assign); a class field would reset them afterwards.
  declare model_type: 'seggpt';
  declare architectures?: string[];
  declare hidden_size: number;
  declare num_hidden_layers: number;
  declare num_attention_heads: number;
  declare hidden_act: SegGPTActivation;
  declare hidden_dropout_prob: number;
  declare initializer_range: number;
  declare layer_norm_eps: number;
  declare image_size: [number, number];
  declare patch_size: number;
  declare num_channels: number;
  declare qkv_bias: boolean;
  declare mlp_dim: number;
  declare drop_path_rate: number;
  declare pretrain_image_size: number;
  declare decoder_hidden_size: number;
  declare use_relative_position_embeddings: boolean;
  declare merge_index: number;
  declare intermediate_hidden_state_indices: number[];
  declare beta: number;
  [key: string]: unknown;
  readonly #fields: SegGPTConfigFields;

  /** @param configJSON the parsed config.json (or a PretrainedConfig); `source` names it in error messages. */
  constructor(configJSON: unknown, source = 'config.json') {
    const fields = parseSegGPTConfig(configJSON, source);
    super(fields);
    this.#fields = fields;
  }

  /** Loads and validates `config.json` from a local folder or hub id (same options as PretrainedConfig). */
  static override async from_pretrained(
    pretrained_model_name_or_path: string,
    options?: Parameters<typeof PretrainedConfig.from_pretrained>[1],
  ): Promise<SegGPTConfig> {
    return (await super.from_pretrained(pretrained_model_name_or_path, options)) as SegGPTConfig;
  }

  /** The validated config.json fields alone (without Transformers.js bookkeeping such as normalized_config). */
  toFields(): SegGPTConfigFields {
    return structuredClone(this.#fields);
  }
}

import { readFile } from 'node:fs/promises';
import { writeSyntheticCheckpoint } from '../../src/conversion/node/synthetic.js';
import { parseSegGPTConfig } from '../../src/configs/seggpt_config_fields.js';
import { InputError } from '../../src/errors.js';
import { stringOption, type CommandSpec, type ParsedArgs } from '../args.js';
import type { Progress } from '../progress.js';

export const syntheticSpec: CommandSpec = {
  name: 'synthetic',
  summary:
    'Write a SegGPT checkpoint filled with the deterministic synthetic-v1 weights (any config; default the full-size ViT-L), ' +
    'for benchmarks and full-size parity checks without downloading real weights.',
  usage: 'seggpt synthetic --output <folder> [--config <config.json>]',
  options: {
    output: { kind: 'string', value: '<folder>', description: 'checkpoint folder to write' },
    config: { kind: 'string', value: '<config.json>', description: 'a SegGPT config.json (default: the reference defaults, i.e. ViT-L)' },
    help: { kind: 'boolean', description: 'show this help' },
  },
  examples: ['seggpt synthetic --output /tmp/seggpt-vit-large-synthetic'],
};

export async function runSynthetic(args: ParsedArgs, progress: Progress): Promise<void> {
  const output = stringOption(args, 'output');
  if (!output) throw new InputError('seggpt synthetic needs --output <folder>');
  const configPath = stringOption(args, 'config');
  let raw: unknown = { model_type: 'seggpt' };
  if (configPath) {
    try {
      raw = JSON.parse(await readFile(configPath, 'utf8'));
    } catch (error) {
      throw new InputError(`cannot read --config ${configPath}: ${(error as Error).message}`);
    }
  }
  const config = parseSegGPTConfig(raw, configPath ?? 'defaults');
  await writeSyntheticCheckpoint(config, output, { onProgress: (done, total) => progress.update('synthetic weights', done, total) });
  progress.finish();
  process.stdout.write(`wrote ${output}\n`);
}

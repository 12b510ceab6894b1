import { convertCheckpoint } from '../../src/conversion/node/convert.js';
import type { AttentionForm } from '../../src/conversion/seggpt_graph.js';
import { SUPPORTED_DTYPES } from '../../src/conversion/variants.js';
import { InputError } from '../../src/errors.js';
import { stringOption, type CommandSpec, type ParsedArgs } from '../args.js';
import { formatBytes } from '../../src/utils/format_bytes.js';
import type { Progress } from '../progress.js';

export const convertSpec: CommandSpec = {
  name: 'convert',
  summary: 'Convert a Hugging Face SegGPT checkpoint (folder or hub id) into ONNX files laid out for Transformers.js.',
  usage: 'seggpt convert <checkpoint folder or hub id> --output <folder> [options]',
  minPositionals: 1,
  options: {
    output: { kind: 'string', value: '<folder>', description: 'folder to create (written to a temporary folder, renamed at the end)' },
    dtype: { kind: 'string', value: '<list>', description: `variants, comma-separated: ${SUPPORTED_DTYPES.join(', ')} or all`, default: 'fp32' },
    'external-data': { kind: 'string', value: 'auto|always|never', description: 'store weights in <file>.onnx_data', default: 'auto' },
    overwrite: { kind: 'boolean', description: 'replace an existing output folder (never the checkpoint itself or a folder holding it)' },
    attention: {
      kind: 'string',
      value: 'fused|decomposed',
      description: "encoder attention: onnxruntime's MultiHeadAttention (less memory) or standard ONNX ops only",
      default: 'fused',
    },
    'allow-non-finite': { kind: 'boolean', description: 'convert weights that hold NaN or Infinity instead of refusing them' },
    revision: { kind: 'string', value: '<rev>', description: 'hub revision (branch, tag or commit)' },
    'hub-url': { kind: 'string', value: '<url>', description: 'hub endpoint (default $HF_ENDPOINT or https://huggingface.co)' },
    token: { kind: 'string', value: '<token>', description: 'hub token for private repos (default $HF_TOKEN)' },
    'cache-dir': { kind: 'string', value: '<folder>', description: 'where hub downloads are kept' },
    help: { kind: 'boolean', description: 'show this help' },
  },
  examples: ['seggpt convert BAAI/seggpt-vit-large --output seggpt-onnx --dtype fp32,fp16,q8,q4', 'seggpt convert ./my-checkpoint --output ./my-checkpoint-onnx'],
};

export async function runConvert(args: ParsedArgs, progress: Progress): Promise<void> {
  const output = stringOption(args, 'output');
  if (!output) throw new InputError('seggpt convert needs --output <folder>');
  const external = stringOption(args, 'external-data');
  if (!['auto', 'always', 'never'].includes(external ?? 'auto')) throw new InputError(`--external-data must be auto, always or never, got "${external}"`);
  const result = await convertCheckpoint({
    checkpoint: args.positionals[0],
    output,
    dtypes: stringOption(args, 'dtype'),
    external_data: external === 'always' ? true : external === 'never' ? false : 'auto',
    overwrite: Boolean(args.options.overwrite),
    allow_non_finite: Boolean(args.options['allow-non-finite']),
    attention: stringOption(args, 'attention') as AttentionForm | undefined,
    revision: stringOption(args, 'revision'),
    hub_url: stringOption(args, 'hub-url'),
    token: stringOption(args, 'token') ?? process.env.HF_TOKEN,
    cache_dir: stringOption(args, 'cache-dir'),
    onProgress: (e) => {
      if (e.stage === 'download') progress.update(`download ${e.file}`, e.loaded, e.total);
      else if (e.stage === 'build') progress.line(`building ${e.dtype} graph`);
      else if (e.stage === 'write') progress.line(`wrote ${e.file} (${formatBytes(e.bytes)})`);
    },
  });
  progress.finish();
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`converted to ${result.output}: ${result.variants.map((v) => `onnx/${v.file}`).join(', ')}\n`);
}

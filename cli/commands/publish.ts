import { publishModel } from '../../src/conversion/hub/publish.js';
import { InputError } from '../../src/errors.js';
import { stringOption, type CommandSpec, type ParsedArgs } from '../args.js';
import { formatBytes } from '../../src/utils/format_bytes.js';
import type { Progress } from '../progress.js';

export const publishSpec: CommandSpec = {
  name: 'publish',
  summary:
    'Upload a folder written by seggpt convert to the Hugging Face hub (large files through LFS), with a model card. ' +
    'The token comes from --token or $HF_TOKEN and is never printed.',
  usage: 'seggpt publish <folder> --repo <owner/name> [options]',
  minPositionals: 1,
  options: {
    repo: { kind: 'string', value: '<owner/name>', description: 'target model repo (created if missing)' },
    revision: { kind: 'string', value: '<branch>', description: 'branch to commit to', default: 'main' },
    private: { kind: 'boolean', description: 'create the repo as private' },
    'dry-run': { kind: 'boolean', description: 'list what would be uploaded; send nothing' },
    'hub-url': { kind: 'string', value: '<url>', description: 'hub endpoint (default $HF_ENDPOINT or https://huggingface.co)' },
    token: { kind: 'string', value: '<token>', description: 'hub write token (default $HF_TOKEN)' },
    'base-model': { kind: 'string', value: '<id>', description: 'base_model of the card (default: from config.json _name_or_path)' },
    quiet: { kind: 'boolean', description: 'no progress output' },
    help: { kind: 'boolean', description: 'show this help' },
  },
  examples: ['seggpt publish seggpt-vit-large-onnx --repo your-name/seggpt-vit-large-onnx --dry-run'],
};

export async function runPublish(args: ParsedArgs, progress: Progress): Promise<void> {
  const repo = stringOption(args, 'repo');
  if (!repo) throw new InputError('seggpt publish needs --repo <owner/name>');
  const dryRun = Boolean(args.options['dry-run']);
  const result = await publishModel(args.positionals[0], {
    repo,
    revision: stringOption(args, 'revision'),
    private: Boolean(args.options.private),
    dryRun,
    hubUrl: stringOption(args, 'hub-url'),
    token: stringOption(args, 'token'),
    baseModel: stringOption(args, 'base-model'),
    onProgress: (e) => progress.update(`${e.phase ?? 'upload'} ${e.file}`, e.loaded, e.total),
  });
  progress.finish();
  for (const f of result.files) process.stdout.write(`${dryRun ? 'would upload' : 'uploaded'} ${f.path} (${formatBytes(f.size)}${f.lfs ? ', LFS' : ''})\n`);
  if (result.commitUrl) process.stdout.write(`committed: ${result.commitUrl}\n`);
}

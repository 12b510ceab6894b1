/**
 * The `seggpt` command line. Every failure ends with one line naming the fix and a non-zero exit
 * code; stack traces only with --debug.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { discardActiveStagingSync } from '../src/conversion/node/staging.js';
import { SegGPTError } from '../src/errors.js';
import { helpText, parseArgs, type CommandSpec, type ParsedArgs } from './args.js';
import { createProgress, type Progress } from './progress.js';
import { packageRoot } from './package_root.js';

interface Command {
  spec: CommandSpec;
  run: (args: ParsedArgs, progress: Progress) => Promise<void>;
}

// Commands are imported on use so `seggpt convert` never loads the inference stack.
const COMMANDS: Record<string, () => Promise<Command>> = {
  convert: async () => import('./commands/convert.js').then((m) => ({ spec: m.convertSpec, run: m.runConvert })),
  publish: async () => import('./commands/publish.js').then((m) => ({ spec: m.publishSpec, run: m.runPublish })),
  segment: async () => import('./commands/segment.js').then((m) => ({ spec: m.segmentSpec, run: m.runSegment })),
  synthetic: async () => import('./commands/synthetic.js').then((m) => ({ spec: m.syntheticSpec, run: m.runSynthetic })),
};

function version(): string {
  const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8'));
  return pkg.version;
}

/** The overview: each command with the one-line summary of its own spec (the specs are loaded for it). */
async function mainHelp(): Promise<string> {
  const firstSentence = (text: string) => text.split(/(?<=\.)\s/)[0];
  const commands = await Promise.all(Object.entries(COMMANDS).map(async ([name, load]) => [name, firstSentence((await load()).spec.summary)] as const));
  const width = Math.max(...commands.map(([name]) => name.length));
  return [
    'Usage: seggpt <command> [options]',
    '',
    'SegGPT (segment everything in context) in JavaScript: convert checkpoints to ONNX, publish them, segment images.',
    '',
    'Commands:',
    ...commands.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
    '',
    'Run seggpt <command> --help for the options and examples of a command. Global flags: --help, --version, --debug.',
  ].join('\n');
}

/** Ctrl-C or a TERM signal while a command runs: its partial output goes, then the usual exit code of the signal. */
function removePartialOutputOnSignals(): () => void {
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      const removed = discardActiveStagingSync();
      process.stderr.write(`\ninterrupted (${signal})${removed.length ? `: removed the partial output ${removed.join(', ')}` : ''}\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on(signal, handler);
    return () => process.off(signal, handler);
  });
  return () => handlers.forEach((off) => off());
}

export async function main(argv: string[]): Promise<number> {
  const debug = argv.includes('--debug');
  const rest = argv.filter((a) => a !== '--debug');
  const [name, ...commandArgs] = rest;
  try {
    if (!name || name === '--help' || name === '-h' || name === 'help') {
      process.stdout.write((await mainHelp()) + '\n');
      return name ? 0 : 1;
    }
    if (name === '--version') {
      process.stdout.write(version() + '\n');
      return 0;
    }
    const load = COMMANDS[name];
    if (!load) {
      process.stderr.write(`error: unknown command "${name}": run seggpt --help for the list of commands\n`);
      return 2;
    }
    const command = await load();
    const spec = command.spec;
    const args = parseArgs(spec, commandArgs);
    if (args.options.help) {
      process.stdout.write(helpText(spec) + '\n');
      return 0;
    }
    const restore = removePartialOutputOnSignals();
    try {
      await command.run(args, createProgress(process.stderr, Boolean(args.options.quiet)));
    } finally {
      restore();
    }
    return 0;
  } catch (error) {
    process.stderr.write(`error: ${describeError(error)}\n`);
    if (debug && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
    return 1;
  }
}

function describeError(error: unknown): string {
  if (error instanceof SegGPTError) return error.message;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${error.message}: check the path`;
    if (code === 'ENOSPC') return `${error.message}: free some disk space`;
    return `${error.message} (run again with --debug for details)`;
  }
  return String(error);
}

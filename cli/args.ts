/**
 * Command-line parsing with the shapes `seggpt` needs: flags, string options, and list options
 * that take every following value up to the next flag (`--prompt-image a.png b.png`).
 */
import { InputError } from '../src/errors.js';

export type OptionKind = 'boolean' | 'string' | 'list';

export interface OptionSpec {
  kind: OptionKind;
  description: string;
  /** Placeholder shown in --help, e.g. <folder>. */
  value?: string;
  default?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Minimum number of positional arguments. */
  minPositionals?: number;
  examples?: string[];
}

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | string[] | boolean | undefined>;
}

export function parseArgs(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const positionals: string[] = [];
  const options: ParsedArgs['options'] = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const [rawName, inline] = arg.slice(2).split(/=(.*)/s, 2);
    const option = spec.options[rawName];
    if (!option) {
      throw new InputError(`unknown option --${rawName} for "seggpt ${spec.name}": run seggpt ${spec.name} --help`);
    }
    if (option.kind === 'boolean') {
      if (inline !== undefined) throw new InputError(`--${rawName} takes no value`);
      options[rawName] = true;
    } else if (option.kind === 'string') {
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith('--'))) {
        throw new InputError(`--${rawName} needs a value ${option.value ?? ''}`.trim());
      }
      options[rawName] = value;
    } else {
      const values = (options[rawName] as string[] | undefined) ?? [];
      if (inline !== undefined) values.push(inline);
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) values.push(argv[++i]);
      if (values.length === 0) throw new InputError(`--${rawName} needs at least one value ${option.value ?? ''}`.trim());
      options[rawName] = values;
    }
  }
  for (const [name, option] of Object.entries(spec.options)) {
    if (options[name] === undefined && option.default !== undefined) options[name] = option.default;
  }
  if (!options.help && positionals.length < (spec.minPositionals ?? 0)) {
    throw new InputError(`"seggpt ${spec.name}" needs ${spec.usage.replace(/^seggpt \S+\s*/, '')}: run seggpt ${spec.name} --help`);
  }
  return { positionals, options };
}

export function helpText(spec: CommandSpec): string {
  const lines = [`Usage: ${spec.usage}`, '', spec.summary, '', 'Options:'];
  const entries = Object.entries(spec.options);
  const labels = entries.map(([name, o]) => `  --${name}${o.kind === 'boolean' ? '' : ` ${o.value ?? '<value>'}`}`);
  const width = Math.max(...labels.map((l) => l.length)) + 2;
  entries.forEach(([, o], i) => {
    lines.push(`${labels[i].padEnd(width)}${o.description}${o.default !== undefined ? ` (default: ${o.default})` : ''}`);
  });
  if (spec.examples?.length) lines.push('', 'Examples:', ...spec.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const v = args.options[name];
  return typeof v === 'string' ? v : undefined;
}

export function listOption(args: ParsedArgs, name: string): string[] {
  const v = args.options[name];
  return Array.isArray(v) ? v : typeof v === 'string' ? [v] : [];
}

export function intOption(args: ParsedArgs, name: string): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InputError(`--${name} must be a non-negative integer, got "${v}"`);
  return n;
}

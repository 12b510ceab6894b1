import { SegGPTConfigError } from '../errors.js';

/** Field readers shared by the config parsers: each throws a SegGPTConfigError naming the file, field and fix. */

export type RawObject = Record<string, unknown>;

/**
 * One number per RGB channel, as HF accepts it (a single number stands for all three); null when `value` is neither
 * a number nor three numbers that pass `check`.
 */
export function channelTriple(value: unknown, check: (n: number) => boolean): [number, number, number] | null {
  const list = typeof value === 'number' ? [value, value, value] : value;
  if (!Array.isArray(list) || list.length !== 3 || !list.every((n) => typeof n === 'number' && check(n))) return null;
  return [list[0], list[1], list[2]];
}

/** Longest rendering of a value in a message. */
const DESCRIBE_LIMIT = 80;

/**
 * A short rendering of any value for a message: at most 80 characters, whatever its size or depth (a 2-million-entry
 * array or a value nested 100 000 levels deep is never serialised whole).
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  let out = '';
  const write = (text: string) => {
    out += text;
    return out.length <= DESCRIBE_LIMIT;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (v === null || typeof v !== 'object') {
      const text = typeof v === 'string' ? JSON.stringify(v.length > DESCRIBE_LIMIT ? v.slice(0, DESCRIBE_LIMIT) : v) : String(v);
      return write(text);
    }
    if (depth > 8) return write('…');
    const isArray = Array.isArray(v);
    if (!write(isArray ? '[' : '{')) return false;
    let first = true;
    for (const key of Object.keys(v as object)) {
      if (!first && !write(',')) return false;
      first = false;
      if (!isArray && !write(`${JSON.stringify(key)}:`)) return false;
      if (!walk((v as Record<string, unknown>)[key], depth + 1)) return false;
    }
    return write(isArray ? ']' : '}');
  };
  walk(value, 0);
  return out.length > DESCRIBE_LIMIT ? `${out.slice(0, DESCRIBE_LIMIT - 3)}...` : out;
}

/** Deepest nesting accepted in a config file (SegGPT's nest at most 2 levels). */
export const MAX_CONFIG_NESTING = 32;

/**
 * Throws SegGPTConfigError when `raw` nests arrays/objects deeper than MAX_CONFIG_NESTING (checked without recursion,
 * before any field is read or the config serialised again).
 */
export function checkNesting(raw: unknown, source: string): void {
  const stack: [unknown, number][] = [[raw, 0]];
  while (stack.length) {
    const [value, depth] = stack.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth >= MAX_CONFIG_NESTING) {
      throw new SegGPTConfigError(`${source}: values are nested more than ${MAX_CONFIG_NESTING} levels deep; a SegGPT config nests at most a few levels — use the config.json of the checkpoint`);
    }
    for (const child of Object.values(value as object)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
}

export function configError(source: string, field: string, value: unknown, problem: string, fix: string): SegGPTConfigError {
  return new SegGPTConfigError(`${source}: "${field}" ${problem} (got ${describeValue(value)}); ${fix}`);
}

export function asObject(raw: unknown, source: string, what: string): RawObject {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SegGPTConfigError(`${source}: expected a JSON object for ${what} (got ${describeValue(raw)}); pass the parsed contents of the file`);
  }
  return raw as RawObject;
}

export function readInt(source: string, field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw configError(source, field, value, 'must be an integer', `set it to an integer ${range}`);
  }
  if (value < min || value > max) throw configError(source, field, value, `must be ${range}`, `set it to an integer ${range}`);
  return value;
}

export function readNumber(source: string, field: string, value: unknown, check: (n: number) => boolean, range: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw configError(source, field, value, 'must be a finite number', `set it to a number ${range}`);
  }
  if (!check(value)) throw configError(source, field, value, `must be ${range}`, `set it to a number ${range}`);
  return value;
}

export function readBool(source: string, field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw configError(source, field, value, 'must be true or false', 'use a JSON boolean');
  return value;
}

/** Copies the keys a parser does not know, so a config survives a parse → JSON round trip. */
export function passThrough(raw: RawObject, known: ReadonlySet<string>, dropped: ReadonlySet<string>): RawObject {
  const extra: RawObject = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!known.has(key) && !dropped.has(key)) extra[key] = value;
  }
  return extra;
}

import { SegGPTConfigError } from '../errors.js';

/** Field readers shared by the config parsers: each throws a SegGPTConfigError naming the file, field and fix. */

export type RawObject = Record<string, unknown>;

export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    const text = JSON.stringify(value);
    return text === undefined ? String(value) : text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return String(value);
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

export function readInt(source: string, field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw configError(source, field, value, 'must be an integer', `set it to an integer ≥ ${min}`);
  }
  if (value < min) throw configError(source, field, value, `must be ≥ ${min}`, `set it to an integer ≥ ${min}`);
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

/**
 * The built package as a user's Node loads it: a fresh `node` process imports `transformers-seggpt` and
 * `transformers-seggpt/conversion` through the package's exports map (dist/, native ES modules) next to the installed
 * `@huggingface/transformers`. Vitest's own module loader does not check named imports, Node does: an export the
 * installed Transformers.js lacks fails here at import time, as it would for a user. In the compatibility matrix
 * (dev/compat/run.mjs) the child inherits NODE_OPTIONS and so loads the version under test.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { env } from '@huggingface/transformers';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const SCRIPT = `
const T = await import('@huggingface/transformers');
const seggpt = await import('transformers-seggpt');
const conversion = await import('transformers-seggpt/conversion');
console.log(JSON.stringify({
  version: T.env.version,
  registered: seggpt.isSegGPTRegistered(),
  supports: ['AutoModel', 'AutoModelForImageSegmentation'].map((name) => T[name].supports('seggpt')),
  exports: [Object.keys(seggpt).length, Object.keys(conversion).length],
}));
`;

/** Runs node; a failure reports its stderr without the stack (e.g. the SyntaxError naming a missing export). */
async function node(args: string[]): Promise<string> {
  try {
    return (await promisify(execFile)(process.execPath, args, { cwd: ROOT })).stdout;
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? '');
    const lines = stderr.split('\n').filter((line) => line.trim() && !/^\s+at /.test(line) && !line.startsWith('Node.js v'));
    throw new Error(`node exited with ${(error as { code?: unknown }).code}: ${lines.reverse().join(' | ')}`);
  }
}

describe('the built package in a fresh node', () => {
  it('imports next to the installed Transformers.js and registers SegGPT', async () => {
    expect(existsSync(join(ROOT, 'dist', 'src', 'index.node.js')), 'dist/ is built (npm run build)').toBe(true);
    const stdout = await node(['--input-type=module', '-e', SCRIPT]);
    const result = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(result.version).toBe(env.version);
    expect(result.registered).toBe(true);
    expect(result.supports).toEqual([true, true]);
    expect(result.exports[0]).toBeGreaterThan(0);
    expect(result.exports[1]).toBeGreaterThan(0);
  });

  it('runs the command line', async () => {
    const stdout = await node([join(ROOT, 'dist', 'cli', 'seggpt.js'), '--help']);
    expect(stdout).toMatch(/^Usage: seggpt/);
  });
});

// The repository's vitest config with @huggingface/transformers (and the onnxruntime it pins) taken from
// SEGGPT_TRANSFORMERS_DIR, a folder where one published version is installed (.compat/<version>, see run.mjs):
//   SEGGPT_TRANSFORMERS_DIR=.compat/4.3.2 NODE_OPTIONS=--import=$PWD/dev/compat/register.mjs \
//     npx vitest run --config dev/compat/vitest.config.mjs
// The alias covers every file vite transforms (src/, cli/, dev/, test/); register.mjs covers what Node loads itself
// (child `node` processes, dist/) and fails any import that still reaches the repository's own node_modules copy.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { defineConfig, mergeConfig } from 'vitest/config';

import base from '../../vitest.config.ts';
import { COMPAT_TESTS } from './tests.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PACKAGES = ['@huggingface/transformers', 'onnxruntime-node', 'onnxruntime-common'];

const dirEnv = process.env.SEGGPT_TRANSFORMERS_DIR;
if (!dirEnv) throw new Error('compat: set SEGGPT_TRANSFORMERS_DIR to a folder holding node_modules/@huggingface/transformers');
const DIR = resolve(ROOT, dirEnv);
const manifest = join(DIR, 'node_modules', '@huggingface', 'transformers', 'package.json');
if (!existsSync(manifest)) throw new Error(`compat: no @huggingface/transformers under ${DIR} (run node dev/compat/run.mjs)`);
const VERSION = JSON.parse(readFileSync(manifest, 'utf8')).version;

// Node's own ESM resolution (conditions node, import) of each package, as seen from the version folder.
const entries = JSON.parse(
  execFileSync(process.execPath, ['--input-type=module', '-e', `console.log(JSON.stringify(${JSON.stringify(PACKAGES)}.map((p) => import.meta.resolve(p))))`], {
    cwd: DIR,
    env: { ...process.env, NODE_OPTIONS: '' },
    encoding: 'utf8',
  }),
).map((url) => fileURLToPath(url));

const config = mergeConfig(
  base,
  defineConfig({
    root: ROOT,
    resolve: {
      alias: PACKAGES.map((name, i) => ({ find: new RegExp(`^${name.replace('/', '\\/')}$`), replacement: entries[i] })),
    },
    test: {
      env: { SEGGPT_TRANSFORMERS_DIR: DIR, SEGGPT_TRANSFORMERS_VERSION: VERSION, SEGGPT_COMPAT_ROOT: ROOT },
      setupFiles: [join(ROOT, 'dev', 'compat', 'setup.mjs')],
    },
  }),
);
// mergeConfig concatenates arrays: the compat list replaces the base include instead.
config.test.include = COMPAT_TESTS;
export default config;

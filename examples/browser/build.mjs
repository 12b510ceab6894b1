#!/usr/bin/env node
// Builds the browser demo into examples/browser/dist/ (self-contained: serve examples/browser/ with any static server):
//   dist/demo.js          the page's TypeScript (examples/browser/src), bundled by esbuild
//   dist/worker.js        the module worker that runs SegGPT: the library and the model work
//   dist/ort/             ONNX Runtime Web's WebAssembly files, so nothing is fetched from a CDN
//   dist/shapes/          the seggpt-shapes example tasks (examples/shapes)
//   dist/models/seggpt-shapes/   the demo model converted from models/seggpt-shapes (skipped when present)
//
// Usage: node examples/browser/build.mjs [--outdir DIR] [--no-model] [--force-model] [--dtypes all|fp32,q8,…]
import { copyFile, cp, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');

// The WebGPU build of onnxruntime-web that Transformers.js imports loads the asyncify variant of the runtime.
const ORT_FILES = ['ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'];

/** Bundles the page script. */
async function bundlePage(outdir) {
  await esbuild.build({
    entryPoints: { demo: join(here, 'src', 'main.ts'), worker: join(here, 'src', 'worker.ts') },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    minify: true,
    // Error classes report their class name (BackendError, InputError, …): keep names through minification.
    keepNames: true,
    legalComments: 'linked',
    logLevel: 'warning',
  });
}

async function copyRuntime(outdir) {
  const from = join(repo, 'node_modules', 'onnxruntime-web', 'dist');
  await mkdir(join(outdir, 'ort'), { recursive: true });
  for (const file of ORT_FILES) await copyFile(join(from, file), join(outdir, 'ort', file));
}

async function copyExamples(outdir) {
  await cp(join(repo, 'examples', 'shapes'), join(outdir, 'shapes'), { recursive: true });
}

/** Converts the demo checkpoint with the repository's converter (compiled on the fly, no prior `npm run build`). */
async function convertDemoModel(outdir, dtypes) {
  const cacheDir = join(repo, 'node_modules', '.cache', 'transformers-seggpt');
  const converter = join(cacheDir, 'convert.mjs');
  await esbuild.build({
    entryPoints: [join(repo, 'src', 'conversion', 'node', 'convert.ts')],
    outfile: converter,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  const { convertCheckpoint } = await import(pathToFileURL(converter).href);
  const output = join(outdir, 'models', 'seggpt-shapes');
  await convertCheckpoint({ checkpoint: join(repo, 'models', 'seggpt-shapes'), output, dtypes, overwrite: true });
  return output;
}

export async function buildExample({ outdir = join(here, 'dist'), model = true, forceModel = false, dtypes = 'all' } = {}) {
  const started = Date.now();
  await mkdir(outdir, { recursive: true });
  await Promise.all([bundlePage(outdir), copyRuntime(outdir), copyExamples(outdir)]);
  let modelDir = null;
  if (model) {
    modelDir = join(outdir, 'models', 'seggpt-shapes');
    if (forceModel || !existsSync(join(modelDir, 'config.json'))) await convertDemoModel(outdir, dtypes);
  }
  return { outdir, modelDir, seconds: (Date.now() - started) / 1000 };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      outdir: { type: 'string' },
      'no-model': { type: 'boolean', default: false },
      'force-model': { type: 'boolean', default: false },
      dtypes: { type: 'string' },
    },
  });
  const result = await buildExample({
    outdir: values.outdir ? resolve(values.outdir) : undefined,
    model: !values['no-model'],
    forceModel: values['force-model'],
    dtypes: values.dtypes,
  });
  console.log(`built ${result.outdir} in ${result.seconds.toFixed(1)} s${result.modelDir ? ` (model: ${result.modelDir})` : ''}`);
  console.log('serve examples/browser/ with any static file server and open index.html, e.g.: npx http-server examples/browser');
}

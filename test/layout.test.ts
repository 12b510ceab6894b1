/**
 * The folder layout is the architecture: these rules keep imports flowing one way.
 *
 *   src/conversion  checkpoint → ONNX; knows nothing of Transformers.js
 *   src/            the Transformers.js plugin (imports src/conversion, never the apps)
 *   cli/            the seggpt app (imports src/)
 *   bench/, dev/    benchmarks and the helpers they share with tests (never published)
 *   test/           tests (may import everything except bench/)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function sourceFiles(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|mts|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
    }
  };
  walk(join(ROOT, folder));
  return out;
}

interface Import {
  file: string;
  /** Repository-relative target for relative imports, the bare specifier otherwise. */
  target: string;
}

function importsOf(folder: string): Import[] {
  const found: Import[] = [];
  for (const file of sourceFiles(folder)) {
    const text = readFileSync(file, 'utf8');
    for (const match of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"]([^'"]+)['"]/g)) {
      const spec = match[1];
      const target = spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)) : spec;
      found.push({ file: relative(ROOT, file), target });
    }
  }
  return found;
}

const under = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`);
const offending = (imports: Import[], bad: (target: string) => boolean) => imports.filter((i) => bad(i.target)).map((i) => `${i.file} → ${i.target}`);

describe('imports flow one way', () => {
  test('the converter imports neither Transformers.js nor the plugin', () => {
    const shared = ['src/errors.js', 'src/configs/seggpt_config_fields.js', 'src/configs/seggpt_preprocessor_config.js', 'src/configs/validate.js', 'src/utils/format_bytes.js'];
    const bad = offending(importsOf('src/conversion'), (t) => t.startsWith('@huggingface/transformers') || (under(t, 'src') && !under(t, 'src/conversion') && !shared.includes(t)));
    expect(bad).toEqual([]);
  });

  test('the library never imports the apps, benchmarks or tests', () => {
    const bad = offending(importsOf('src'), (t) => ['cli', 'bench', 'dev', 'test', 'examples'].some((f) => under(t, f)));
    expect(bad).toEqual([]);
  });

  test('the CLI imports the library, not benchmarks or tests', () => {
    expect(offending(importsOf('cli'), (t) => ['bench', 'dev', 'test'].some((f) => under(t, f)))).toEqual([]);
  });

  test('benchmarks and tests stay apart', () => {
    expect(offending(importsOf('bench').filter((i) => !under(i.file, 'bench/test')), (t) => under(t, 'test'))).toEqual([]);
    expect(offending(importsOf('dev'), (t) => under(t, 'test') || under(t, 'bench'))).toEqual([]);
    expect(offending(importsOf('test'), (t) => under(t, 'bench'))).toEqual([]);
  });
});

test('the published package holds the library, the CLI and the demo model, no benchmark or test code', () => {
  const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const files: string[] = pack.files.map((f: { path: string }) => f.path);
  expect(files.filter((f) => /^(dist\/)?(bench|dev|test)\//.test(f))).toEqual([]);
  for (const needed of ['dist/src/index.node.js', 'dist/src/conversion/index.js', 'dist/src/conversion/index.node.js', 'dist/cli/seggpt.js', 'models/seggpt-shapes/model.safetensors']) {
    expect(files).toContain(needed);
  }
});

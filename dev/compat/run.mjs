#!/usr/bin/env node
// The Transformers.js compatibility matrix (`npm run test:compat`): runs the tests of tests.mjs against every published
// @huggingface/transformers version that package.json's peerDependencies admits, one version at a time, each installed
// from the npm registry into .compat/<version>/ (git-ignored; onnxruntime-node's CUDA download skipped, its CPU binaries
// ship in the package). Prints one table row per version and a closing line, writes .compat/results/summary.json, and
// exits non-zero if any test fails or the peer range and the tested versions disagree.
//
//   node dev/compat/run.mjs                  the matrix: the range's lowest version and the newest patch of each minor
//   node dev/compat/run.mjs --versions 4.2.0 those versions only (no range check: for trying a version)
//   node dev/compat/run.mjs --check          only check the peer range against TESTED and the registry
//   node dev/compat/run.mjs --no-build       skip `npm run build` (first_load*.test.ts spawn `node` on dist/)
//   node dev/compat/run.mjs -- <vitest args> e.g. -- test/registry.test.ts to run one file
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const COMPAT = join(ROOT, '.compat');
const RESULTS = join(COMPAT, 'results');
const PACKAGE = '@huggingface/transformers';

// The versions the peer range is written for: its lowest version and the newest patch of each minor it admits. When the
// registry has a newer patch inside the range, it is tested as well (and reported, so this list and the README follow).
const TESTED = ['4.3.0', '4.3.2'];

const args = process.argv.slice(2);
const passthrough = args.includes('--') ? args.slice(args.indexOf('--') + 1) : [];
const own = args.includes('--') ? args.slice(0, args.indexOf('--')) : args;
const build = !own.includes('--no-build');
const only = own.includes('--versions') ? own[own.indexOf('--versions') + 1].split(',') : null;

const parse = (v) => {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? m.slice(1).map(Number) : null;
};
const compare = (a, b) => {
  const [x, y] = [parse(a), parse(b)];
  return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
};

/** package.json's peer range, which must read ">=X.Y.Z <A.B.0" (the only form this script can check). */
function peerRange() {
  const range = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).peerDependencies[PACKAGE];
  const m = /^>=(\d+\.\d+\.\d+) <(\d+\.\d+\.0)$/.exec(range);
  if (!m) throw new Error(`compat: peerDependencies["${PACKAGE}"] is "${range}"; write it as ">=X.Y.Z <A.B.0"`);
  return { range, low: m[1], high: m[2], admits: (v) => parse(v) && compare(v, m[1]) >= 0 && compare(v, m[2]) < 0 };
}

/** Published stable versions, or null when the registry cannot be asked. */
function published() {
  const r = spawnSync('npm', ['view', PACKAGE, 'versions', '--json'], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) return null;
  try {
    return JSON.parse(r.stdout).filter((v) => parse(v));
  } catch {
    return null;
  }
}

/** The versions to test and the problems with the range (an empty list when it matches). */
function matrix() {
  const peer = peerRange();
  const problems = [];
  for (const v of TESTED) if (!peer.admits(v)) problems.push(`tested version ${v} is outside the peer range "${peer.range}"`);
  const sorted = [...TESTED].sort(compare);
  if (sorted[0] !== peer.low) problems.push(`the peer range starts at ${peer.low}, the lowest tested version is ${sorted[0]}`);
  const top = parse(sorted.at(-1));
  if (peer.high !== `${top[0]}.${top[1] + 1}.0`) problems.push(`the peer range ends below ${peer.high}, the newest tested minor is ${top[0]}.${top[1]}`);
  const versions = new Set(TESTED);
  const all = published();
  if (!all) {
    console.log('compat: the registry did not answer; testing the pinned versions only');
  } else {
    const admitted = all.filter(peer.admits);
    for (const v of TESTED) if (!all.includes(v)) problems.push(`${v} is not published`);
    const newest = new Map();
    for (const v of admitted) {
      const minor = parse(v).slice(0, 2).join('.');
      if (!newest.has(minor) || compare(v, newest.get(minor)) > 0) newest.set(minor, v);
    }
    for (const v of newest.values()) {
      if (!versions.has(v)) {
        console.log(`compat: ${v} is published and admitted by "${peer.range}" but not in TESTED: testing it too (add it to dev/compat/run.mjs and the README)`);
        versions.add(v);
      }
    }
  }
  return { versions: [...versions].sort(compare), problems, range: peer.range };
}

function installed(v) {
  const manifest = join(COMPAT, v, 'node_modules', PACKAGE, 'package.json');
  if (!existsSync(manifest) || JSON.parse(readFileSync(manifest, 'utf8')).version !== v) return false;
  // onnxruntime-node ships its CPU binaries; with ONNXRUNTIME_NODE_INSTALL=skip nothing else is fetched.
  const bin = join(COMPAT, v, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch, 'onnxruntime_binding.node');
  return existsSync(bin);
}

function install(v) {
  const dir = join(COMPAT, v);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `seggpt-compat-${v}`, private: true }) + '\n');
  const started = Date.now();
  const r = spawnSync('npm', ['install', '--prefix', dir, `${PACKAGE}@${v}`, '--no-audit', '--no-fund', '--loglevel=error'], {
    stdio: 'inherit',
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  if (r.status !== 0 || !installed(v)) throw new Error(`compat: installing ${PACKAGE}@${v} into ${dir} failed`);
  console.log(`compat: installed ${PACKAGE}@${v} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

function versionOf(v, name) {
  const manifest = join(COMPAT, v, 'node_modules', name, 'package.json');
  return existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : '-';
}

function run(v) {
  const output = join(RESULTS, `${v}.json`);
  rmSync(output, { force: true });
  const started = Date.now();
  // Absolute (a file URL has no spaces): child processes the tests start in other folders inherit NODE_OPTIONS too.
  const register = pathToFileURL(join(ROOT, 'dev', 'compat', 'register.mjs')).href;
  spawnSync('npx', ['vitest', 'run', '--config', 'dev/compat/vitest.config.mjs', '--reporter=default', '--reporter=json', `--outputFile=${output}`, ...passthrough], {
    cwd: ROOT,
    stdio: 'inherit',
    env: {
      ...process.env,
      SEGGPT_TRANSFORMERS_DIR: join(COMPAT, v),
      SEGGPT_COMPAT_ROOT: ROOT,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${register}`.trim(),
    },
  });
  const seconds = (Date.now() - started) / 1000;
  const row = { version: v, onnxruntime: versionOf(v, 'onnxruntime-node'), seconds, files: 0, passed: 0, failed: 0, skipped: 0, failures: [] };
  if (!existsSync(output)) return { ...row, failed: 1, failures: ['vitest wrote no results (the run itself failed: see above)'] };
  const r = JSON.parse(readFileSync(output, 'utf8'));
  row.files = r.testResults.length;
  row.passed = r.numPassedTests;
  row.failed = r.numFailedTests;
  row.skipped = r.numPendingTests + r.numTodoTests;
  for (const file of r.testResults) {
    const name = file.name.replace(`${ROOT}/`, '');
    const failed = file.assertionResults.filter((a) => a.status === 'failed');
    for (const a of failed) row.failures.push(`${name} > ${a.fullName}: ${(a.failureMessages[0] ?? '').split('\n')[0]}`);
    // A file that fails outside any test (import error, hook) has no failed assertions: count it once.
    if (file.status === 'failed' && failed.length === 0) {
      row.failed += 1;
      row.failures.push(`${name}: ${(file.message ?? '').split('\n')[0]}`);
    }
  }
  return row;
}

const started = Date.now();
mkdirSync(RESULTS, { recursive: true });
rmSync(join(RESULTS, 'summary.json'), { force: true });
const { versions, problems, range } = only ? { versions: only, problems: [], range: 'not checked (--versions)' } : matrix();
for (const p of problems) console.log(`compat: ${p}`);
if (own.includes('--check')) {
  console.log(`compat: peer range ${range}, versions to test: ${versions.join(', ')}`);
  process.exit(problems.length > 0 ? 1 : 0);
}

for (const v of versions) if (!installed(v)) install(v);
if (build) {
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('compat: npm run build failed');
}

const rows = [];
for (const v of versions) {
  console.log(`\n=== ${PACKAGE}@${v} ===`);
  rows.push(run(v));
}

const total = (key) => rows.reduce((sum, r) => sum + r[key], 0);
const summary = { range, versions, problems, rows, passed: total('passed'), failed: total('failed'), skipped: total('skipped'), seconds: (Date.now() - started) / 1000 };
writeFileSync(join(RESULTS, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');

console.log(`\nTransformers.js compatibility (peer range ${range}):`);
console.log('| @huggingface/transformers | onnxruntime-node | passed | failed | skipped | time |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.version} | ${r.onnxruntime} | ${r.passed} | ${r.failed} | ${r.skipped} | ${r.seconds.toFixed(0)} s |`);
for (const r of rows) for (const f of r.failures) console.log(`FAILED ${r.version}: ${f}`);
console.log(`compat: ${versions.length} versions, ${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped, ${problems.length} range problems (${summary.seconds.toFixed(0)} s)`);
process.exit(summary.failed > 0 || problems.length > 0 ? 1 : 0);

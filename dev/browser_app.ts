/**
 * Builds dev/browser_app (a user's web app that loads SegGPT by hub id, in the page or a module worker) the way an
 * app is bundled: esbuild resolves `transformers-seggpt` from node_modules through the package's exports (browser
 * condition), here a symlink to this repository. Used by the browser tests and the first-load benchmark.
 */
import { cpSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

/** The repository root, from dev/ (source) or dist/dev/ (compiled). */
export function repositoryRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const root = [resolve(here, '..'), resolve(here, '..', '..')].find((dir) => existsSync(join(dir, 'dev', 'browser_app', 'app.js')));
  if (!root) throw new Error(`dev/browser_app not found above ${here}`);
  return root;
}

/** Bundles the app into `out` (index.html, page.js, worker.js); `work` receives the app's sources and node_modules. */
export async function buildBrowserApp(out: string, work: string): Promise<void> {
  const root = repositoryRoot();
  const app = join(work, 'app');
  cpSync(join(root, 'dev', 'browser_app'), app, { recursive: true });
  mkdirSync(join(app, 'node_modules', '@huggingface'), { recursive: true });
  symlinkSync(root, join(app, 'node_modules', 'transformers-seggpt'));
  symlinkSync(join(root, 'node_modules', '@huggingface', 'transformers'), join(app, 'node_modules', '@huggingface', 'transformers'));
  await esbuild.build({
    entryPoints: [join(app, 'page.js'), join(app, 'worker.js')],
    absWorkingDir: app,
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    keepNames: true,
    logLevel: 'error',
  });
  cpSync(join(app, 'index.html'), join(out, 'index.html'));
}

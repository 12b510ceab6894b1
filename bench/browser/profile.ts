/**
 * The browser side of `bench:browser --profile`: bundles bench/browser/profile_worker.ts next to the demo's bundle and
 * runs it from a page of the same origin (cross-origin isolated, so the worker gets its threads).
 */
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import type { Page } from 'playwright-core';
import type { ProfileAnswer, ProfileRequest } from './profile_worker.js';

export type { ProfileAnswer, ProfileRequest } from './profile_worker.js';

/** Bundles the profile worker into `dist/profile_worker.js` (as build.mjs bundles the demo's worker). */
export async function buildProfileWorker(repo: string, dist: string): Promise<void> {
  await esbuild.build({
    entryPoints: { profile_worker: join(repo, 'bench', 'browser', 'profile_worker.ts') },
    outdir: dist,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    keepNames: true,
    logLevel: 'warning',
  });
}

/**
 * Starts `dist/profile_worker.js` (relative to the page's URL) and resolves with its answer; `wasmPaths` is filled in
 * as the page's `dist/ort/`.
 */
export function runProfileWorker(page: Page, request: Omit<ProfileRequest, 'wasmPaths'>): Promise<ProfileAnswer> {
  return page.evaluate(
    (r) =>
      new Promise<ProfileAnswer>((done) => {
        const worker = new Worker(new URL('dist/profile_worker.js', location.href), { type: 'module' });
        worker.onmessage = (event) => {
          done(event.data);
          worker.terminate();
        };
        worker.onerror = (event) => done({ ok: false, error: `worker error: ${event.message}` });
        worker.postMessage({ ...r, wasmPaths: new URL('dist/ort/', location.href).href });
      }),
    request,
  );
}

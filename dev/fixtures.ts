import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The shared fixtures folder (`../shared/fixtures` beside the repository). This file runs both from
 * source (bench/) and compiled (dist/bench/), so both depths are tried; SEGGPT_FIXTURES overrides.
 */
export function fixturesRoot(): string {
  const candidates = [process.env.SEGGPT_FIXTURES, resolve(here, '..', '..', 'shared', 'fixtures'), resolve(here, '..', '..', '..', 'shared', 'fixtures')];
  for (const candidate of candidates) {
    if (candidate && existsSync(join(candidate, 'seggpt-vit-large-synthetic'))) return candidate;
  }
  throw new Error(`shared fixtures not found (tried ${candidates.filter(Boolean).join(', ')}): clone the repo beside ../shared or set SEGGPT_FIXTURES`);
}

export function vitLargeFixture(): string {
  return join(fixturesRoot(), 'seggpt-vit-large-synthetic');
}

export function tinyFixture(): string {
  return join(fixturesRoot(), 'seggpt-tiny');
}

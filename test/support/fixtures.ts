import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The shared fixtures live beside the repository: ../shared/fixtures. */
export const FIXTURES = resolve(here, '..', '..', '..', 'shared', 'fixtures');
export const TINY = join(FIXTURES, 'seggpt-tiny');
export const SHAPES = join(FIXTURES, 'seggpt-shapes');
export const VIT_L = join(FIXTURES, 'seggpt-vit-large-synthetic');

if (!existsSync(TINY)) throw new Error(`fixtures not found at ${FIXTURES}: clone the repo beside ../shared`);

export interface TinyCase {
  name: string;
  dir: string;
  json: any;
}

export function tinyCases(): TinyCase[] {
  const root = join(TINY, 'cases');
  return readdirSync(root)
    .sort()
    .map((name) => ({ name, dir: join(root, name), json: JSON.parse(readFileSync(join(root, name, 'case.json'), 'utf8')) }));
}

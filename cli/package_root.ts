import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package's root folder, from cli/ (run from source) or dist/cli/ (built). */
export function packageRoot(): string {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [resolve(here, '..'), resolve(here, '..', '..')];
  return candidates.find((c) => existsSync(join(c, 'package.json'))) ?? candidates[0];
}

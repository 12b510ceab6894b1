import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The folder of the bundled demo checkpoint (models/seggpt-shapes), from src/ (source) or dist/src/ (built). */
export function demoModelFolder(): string {
  const candidates = ['../../../models/seggpt-shapes', '../../../../models/seggpt-shapes'].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  return candidates.find((c) => existsSync(c)) ?? candidates[0];
}

/**
 * Node CPU runs every precision variant: each replays the seggpt-tiny fixture cases through the public model class
 * and is compared with Node CPU fp32 (bounds and their reason: support/tolerances.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { SegGPTForImageSegmentation } from '../src/index.node.js';
import { absDiff, readNpy } from '../dev/npy.js';
import { TINY, tinyCases } from './support/fixtures.js';
import { VARIANT_MEAN_ABS_BOUND } from './support/tolerances.js';


let work: string;
let model: string;
const fp32 = new Map<string, Float32Array>();

function inputs(dir: string) {
  const t = (f: string) => {
    const a = readNpy(join(dir, f));
    return new Tensor('float32', a.data as Float32Array, a.shape);
  };
  return { pixel_values: t('pixel_values.npy'), prompt_pixel_values: t('prompt_pixel_values.npy'), prompt_masks: t('prompt_masks.npy') };
}

async function runAll(dtype: string): Promise<Map<string, Float32Array>> {
  const m = await SegGPTForImageSegmentation.from_pretrained(model, { dtype: dtype as 'fp32' });
  const out = new Map<string, Float32Array>();
  for (const c of tinyCases()) {
    const result = await (m as any)(inputs(c.dir), c.json.model_call.kwargs);
    out.set(c.name, result.pred_masks.data as Float32Array);
  }
  await m.dispose();
  return out;
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-variants-'));
  model = join(work, 'tiny-all');
  await convertCheckpoint({ checkpoint: TINY, output: model, dtypes: 'all' });
  for (const [name, data] of await runAll('fp32')) fp32.set(name, data);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('Node CPU, every variant vs fp32 on every fixture case', () => {
  test('fp32 itself matches the reference', () => {
    for (const c of tinyCases()) {
      const expected = readNpy(join(c.dir, 'pred_masks.npy')).data as Float32Array;
      expect(absDiff(fp32.get(c.name)!, expected).max).toBeLessThan(1e-4);
    }
  });

  test.each(Object.keys(VARIANT_MEAN_ABS_BOUND))('%s', async (dtype) => {
    const results = await runAll(dtype);
    for (const c of tinyCases()) {
      const d = absDiff(results.get(c.name)!, fp32.get(c.name)!);
      expect(d.mean, `${dtype} ${c.name}`).toBeLessThan(VARIANT_MEAN_ABS_BOUND[dtype]);
      expect(d.mean, `${dtype} ${c.name} computed something different from fp32`).toBeGreaterThan(0);
    }
  });
});

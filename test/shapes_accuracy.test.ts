/**
 * What quantisation costs, measured where there is ground truth: the trained seggpt-shapes model on its 64 held-out
 * tasks, through the public pipeline API, for every precision variant.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { SUPPORTED_DTYPES } from '../src/conversion/variants.js';
import { evaluateShapes, IOU_TOLERANCE, type EvalResult } from '../dev/shapes_eval.js';
import { SHAPES } from './support/fixtures.js';

let work: string;
let model: string;
const results = new Map<string, EvalResult>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-shapes-'));
  model = join(work, 'seggpt-shapes-onnx');
  await convertCheckpoint({ checkpoint: SHAPES, output: model, dtypes: 'all' });
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('seggpt-shapes held-out IoU per variant', () => {
  test('fp32 reproduces the reference per task and in the mean', async () => {
    const r = await evaluateShapes(model, join(SHAPES, 'eval'), 'fp32');
    results.set('fp32', r);
    expect(Math.abs(r.mean_iou - r.reference_mean_iou)).toBeLessThanOrEqual(IOU_TOLERANCE.fp32);
    // Per task only pixels sitting on the 128 threshold may differ.
    for (const t of r.tasks) expect(Math.abs(t.iou - t.reference_iou), `task ${t.task}`).toBeLessThan(0.05);
  }, 300_000);

  test.each(SUPPORTED_DTYPES.filter((d) => d !== 'fp32'))('%s stays within its tolerance of fp32', async (dtype) => {
    const fp32 = results.get('fp32');
    expect(fp32, 'the fp32 test runs first').toBeDefined();
    const r = await evaluateShapes(model, join(SHAPES, 'eval'), dtype);
    results.set(dtype, r);
    console.log(`${dtype}: mean IoU ${r.mean_iou.toFixed(4)} (fp32 ${fp32!.mean_iou.toFixed(4)}, Δ ${(r.mean_iou - fp32!.mean_iou).toFixed(4)}, limit ${IOU_TOLERANCE[dtype]})`);
    expect(Math.abs(r.mean_iou - fp32!.mean_iou)).toBeLessThanOrEqual(IOU_TOLERANCE[dtype]);
  }, 300_000);
});

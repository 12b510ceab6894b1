/**
 * Every seggpt-tiny case replayed through the public API exactly as a user writes it:
 * `seggpt convert` → PNGs → AutoProcessor → AutoModel → post_process_semantic_segmentation.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModel, AutoProcessor, type Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SegGPTForImageSegmentation, SegGPTProcessor } from '../src/index.node.js';
import { main } from '../cli/main.js';
import { TINY, tinyCases } from './support/fixtures.js';
import { expectReferenceInputs, expectReferenceMaps, expectReferencePredMasks, replayCase } from './support/replay.js';

let work: string;
let converted: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-public-'));
  converted = join(work, 'seggpt-tiny-onnx');
  expect(await main(['convert', TINY, '--output', converted])).toBe(0);
});

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.each(tinyCases().map((c) => [c.name, c] as const))('%s', (_name, c) => {
  let inputs: Record<string, Tensor>;
  let outputs: Record<string, Tensor>;
  let processor: SegGPTProcessor;

  beforeAll(async () => {
    processor = (await AutoProcessor.from_pretrained(converted)) as unknown as SegGPTProcessor;
    const model = await AutoModel.from_pretrained(converted);
    expect(model).toBeInstanceOf(SegGPTForImageSegmentation);
    ({ inputs, outputs } = await replayCase(c, processor, model));
    await model.dispose();
  });

  test('the processor reproduces the reference arrays', () => expectReferenceInputs(c, inputs));
  test('pred_masks match the reference', () => expectReferencePredMasks(c, outputs));
  test('post_process_semantic_segmentation gives the reference maps', () => expectReferenceMaps(c, processor, outputs));
});

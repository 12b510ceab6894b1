import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { convertCheckpoint } from '../src/conversion/node/convert.js';
import {
  InputError,
  pipeline,
  SegGPTForImageSegmentation,
  SegGPTImageProcessor,
  SegGPTSegmenter,
  type SegGPTImageSegmentationPipeline,
  type SegGPTPrediction,
} from '../src/index.node.js';

/**
 * The segmentation core on the really-trained seggpt-shapes model: the flow's defaults, video propagation (rebuilt
 * by hand for comparison), cancellation, batch independence of the 8-bit variant and the warnings on likely mistakes.
 */
const REPO = resolve(import.meta.dirname, '..');
const EXAMPLES = join(REPO, 'examples', 'shapes');
const example = (file: string) => join(EXAMPLES, file);
const QUERIES = ['ex1_query_image.png', 'ex2_query_image.png', 'ex3_query_image.png', 'ex4_query_image.png', 'ex5_query_image.png'].map(example);
const PROMPT = { prompt_images: example('ex1_prompt_image.png'), prompt_masks: example('ex1_prompt_mask.png') };

let work: string;
let processor: SegGPTImageProcessor;
let fp32: SegGPTForImageSegmentation;
let q8: SegGPTForImageSegmentation;
let segmenter: SegGPTSegmenter;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-segmenter-'));
  const converted = await convertCheckpoint({ checkpoint: join(REPO, 'models', 'seggpt-shapes'), output: join(work, 'shapes'), dtypes: ['fp32', 'q8'] });
  processor = await SegGPTImageProcessor.from_pretrained(converted.output);
  fp32 = await SegGPTForImageSegmentation.from_pretrained(converted.output, { device: 'cpu', dtype: 'fp32' });
  q8 = await SegGPTForImageSegmentation.from_pretrained(converted.output, { device: 'cpu', dtype: 'q8' });
  segmenter = new SegGPTSegmenter(fp32, processor);
}, 120_000);

afterAll(async () => {
  await Promise.all([fp32?.dispose(), q8?.dispose()]);
  rmSync(work, { recursive: true, force: true });
});

const pixels = (p: SegGPTPrediction) => p.ids.reduce((n, id) => n + (id !== 0 ? 1 : 0), 0);

/** A prediction as the user would save it: white object on black, 1 channel. */
function savedMask(p: SegGPTPrediction): RawImage {
  const data = new Uint8ClampedArray(p.ids.length);
  for (let i = 0; i < data.length; i++) data[i] = p.ids[i] ? 255 : 0;
  return new RawImage(data, p.width, p.height, 1);
}

describe('segment', () => {
  it('defaults embedding_type to the model default (instance) and the ensemble to off for one prompt', async () => {
    const [implicit] = await segmenter.segment(QUERIES[0], PROMPT);
    const [explicit] = await segmenter.segment(QUERIES[0], { ...PROMPT, embedding_type: 'instance', feature_ensemble: false });
    const [semantic] = await segmenter.segment(QUERIES[0], { ...PROMPT, embedding_type: 'semantic' });
    expect(implicit.embedding_type).toBe('instance');
    expect(implicit.feature_ensemble).toBe(false);
    expect(implicit.ids).toEqual(explicit.ids);
    expect(pixels(implicit)).toBeGreaterThan(0);
    expect(semantic.ids).not.toEqual(implicit.ids); // the type token matters, so the default is observable
  });

  it('gives each image of a call the answer it gets alone, also with 8-bit dynamic quantisation', async () => {
    const q8Segmenter = new SegGPTSegmenter(q8, processor);
    for (const core of [segmenter, q8Segmenter]) {
      const together = await core.segment(QUERIES.slice(0, 3), PROMPT);
      const alone = await Promise.all(QUERIES.slice(0, 3).map(async (q) => (await core.segment(q, PROMPT))[0]));
      expect(together.map((p) => p.ids)).toEqual(alone.map((p) => p.ids));
    }
  });

  it('few-shot: one image with several prompts averages them (feature ensemble on by default)', async () => {
    const two = { prompt_images: [example('ex6_prompt_image_0.png'), example('ex6_prompt_image_1.png')], prompt_masks: [example('ex6_prompt_mask_0.png'), example('ex6_prompt_mask_1.png')] };
    const [fewShot] = await segmenter.segment(example('ex6_query_image.png'), two);
    expect(fewShot.feature_ensemble).toBe(true);
    expect(fewShot.prompts).toBe(2);
    await expect(segmenter.segment(example('ex6_query_image.png'), { ...two, feature_ensemble: false })).rejects.toThrow(/need feature_ensemble/);
  });
});

describe('propagate', () => {
  it('frame 0 equals a plain call; frame t uses the given prompts plus the previous `memory` predictions', async () => {
    const memory = 2;
    const results: SegGPTPrediction[] = [];
    for await (const result of segmenter.propagate(QUERIES, { ...PROMPT, memory })) results.push(result);
    expect(results).toHaveLength(QUERIES.length);
    const [plain] = await segmenter.segment(QUERIES[0], PROMPT);
    expect(results[0].ids).toEqual(plain.ids);
    expect(results.map((r) => r.prompts)).toEqual([1, 2, 3, 3, 3]);

    for (let t = 1; t < QUERIES.length; t++) {
      const earlier = Array.from({ length: Math.min(t, memory) }, (_, k) => t - Math.min(t, memory) + k);
      const [byHand] = await segmenter.segment(QUERIES[t], {
        prompt_images: [PROMPT.prompt_images, ...earlier.map((f) => QUERIES[f])],
        prompt_masks: [PROMPT.prompt_masks, ...earlier.map((f) => savedMask(results[f]))],
      });
      expect(byHand.feature_ensemble).toBe(true);
      expect(results[t].ids, `frame ${t}`).toEqual(byHand.ids);
    }
  });

  it('memory 0 segments every frame from the given prompts alone', async () => {
    const results: SegGPTPrediction[] = [];
    for await (const result of segmenter.propagate(QUERIES.slice(0, 3), { ...PROMPT, memory: 0 })) results.push(result);
    const plain = await segmenter.segment(QUERIES.slice(0, 3), PROMPT);
    expect(results.map((r) => r.ids)).toEqual(plain.map((p) => p.ids));
  });

  it('streams: a frame is answered before the next one is read, from an async iterable', async () => {
    const events: string[] = [];
    async function* frames() {
      for (let i = 0; i < 3; i++) {
        events.push(`read ${i}`);
        yield QUERIES[i];
      }
    }
    for await (const result of segmenter.propagate(frames(), PROMPT)) events.push(`result ${result.prompts - 1}`);
    expect(events).toEqual(['read 0', 'result 0', 'read 1', 'result 1', 'read 2', 'result 2']);
  });

  it('with num_labels, the remembered predictions are class maps like the given ones', async () => {
    const classMask = await RawImage.read(example('ex1_prompt_mask.png'));
    const ids = new Uint8ClampedArray(classMask.width * classMask.height);
    for (let i = 0; i < ids.length; i++) ids[i] = classMask.data[i * classMask.channels] > 127 ? 1 : 0;
    const options = { prompt_images: PROMPT.prompt_images, prompt_masks: new RawImage(ids, classMask.width, classMask.height, 1), num_labels: 1, memory: 1 };
    const results: SegGPTPrediction[] = [];
    for await (const result of segmenter.propagate(QUERIES.slice(0, 2), options)) results.push(result);
    const [byHand] = await segmenter.segment(QUERIES[1], {
      prompt_images: [PROMPT.prompt_images, QUERIES[0]],
      prompt_masks: [options.prompt_masks, new RawImage(Uint8ClampedArray.from(results[0].ids), results[0].width, results[0].height, 1)],
      num_labels: 1,
    });
    expect(results[1].num_labels).toBe(1);
    expect(results[1].ids).toEqual(byHand.ids);
  });

  it('refuses frames that are not a sequence and a bad memory, naming the fix', async () => {
    const drain = async (frames: unknown, options: object) => {
      for await (const _ of segmenter.propagate(frames as never, { ...PROMPT, ...options })) void _;
    };
    await expect(drain(QUERIES[0], {})).rejects.toThrow(/frames must be an array or an \(async\) iterable/);
    await expect(drain(QUERIES, { memory: -1 })).rejects.toThrow(/memory must be an integer from 0 to 64/);
    await expect(drain(QUERIES, { memmory: 2 })).rejects.toThrow(/unknown option "memmory" \(did you mean "memory"\?\)/);
  });
});

describe('cancellation', () => {
  it('an aborted signal rejects with AbortError before any work; a live one changes nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const attempt = segmenter.segment(QUERIES[0], { ...PROMPT, signal: controller.signal });
    await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
    const [live] = await segmenter.segment(QUERIES[0], { ...PROMPT, signal: new AbortController().signal });
    const [plain] = await segmenter.segment(QUERIES[0], PROMPT);
    expect(live.ids).toEqual(plain.ids);
  });

  it('an abort during propagation stops before the next frame', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const run = async () => {
      for await (const result of segmenter.propagate(QUERIES, { ...PROMPT, signal: controller.signal })) {
        seen.push(result.prompts);
        controller.abort();
      }
    };
    await expect(run()).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual([1]);
  });

  it('an abort while the model runs rejects when the run returns', async () => {
    const controller = new AbortController();
    // The abort lands while the model runs (inside its call), whatever the machine's speed.
    const model = fp32 as unknown as { _call: (...args: unknown[]) => Promise<unknown> };
    const run = model._call;
    const spy = vi.spyOn(model, '_call').mockImplementation(async function (this: unknown, ...args: unknown[]) {
      const result = run.apply(this, args);
      controller.abort();
      return result;
    });
    try {
      const attempt = segmenter.segment(QUERIES[0], { ...PROMPT, signal: controller.signal });
      await expect(attempt).rejects.toMatchObject({ name: 'AbortError' });
      expect(spy).toHaveBeenCalledTimes(1);
    } finally {
      spy.mockRestore();
    }
  });

  it('rejects a signal that is not an AbortSignal', async () => {
    await expect(segmenter.segment(QUERIES[0], { ...PROMPT, signal: {} as AbortSignal })).rejects.toThrow(/signal must be an AbortSignal/);
  });
});

describe('likely mistakes are named', () => {
  it('a class-index mask without num_labels is refused, naming num_labels', async () => {
    const classes = new RawImage(new Uint8ClampedArray([0, 1, 2, 2, 0, 1, 0, 0, 2]), 3, 3, 1);
    const attempt = segmenter.segment(QUERIES[0], { prompt_images: PROMPT.prompt_images, prompt_masks: classes });
    await expect(attempt).rejects.toBeInstanceOf(InputError);
    await expect(attempt).rejects.toThrow(/values 0 to 2.*num_labels: 2/);
  });

  it('a black/white mask with num_labels is refused, naming both fixes', async () => {
    const attempt = segmenter.segment(QUERIES[0], { ...PROMPT, num_labels: 3 });
    await expect(attempt).rejects.toBeInstanceOf(InputError);
    await expect(attempt).rejects.toThrow(/only 0 and 255.*leave num_labels unset.*class ids 1\.\.3/);
  });

  it('a prompt mask with another aspect ratio than its image gives a warning (and still an answer)', async () => {
    const warn = vi.fn();
    const warned = new SegGPTSegmenter(fp32, processor, { warn });
    const mask = await RawImage.read(PROMPT.prompt_masks);
    const squashed = await mask.resize(mask.width * 2, mask.height);
    const [result] = await warned.segment(QUERIES[0], { prompt_images: PROMPT.prompt_images, prompt_masks: squashed });
    expect(result.width).toBeGreaterThan(0);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/prompt_masks\[0\] \(\d+×\d+\) has another aspect ratio than prompt_images\[0\]/);
  });

  it('the default warning goes to console.warn', async () => {
    const spy = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const mask = await RawImage.read(PROMPT.prompt_masks);
      await segmenter.segment(QUERIES[0], { prompt_images: PROMPT.prompt_images, prompt_masks: await mask.resize(mask.width, mask.height * 2) });
      expect(spy).toHaveBeenCalledWith(expect.stringMatching(/another aspect ratio/));
    } finally {
      spy.mockRestore();
    }
  });
});

describe('the pipeline on the core', () => {
  let seg: SegGPTImageSegmentationPipeline;
  beforeAll(async () => {
    seg = await pipeline('seggpt', join(work, 'shapes'), { device: 'cpu', dtype: 'fp32' });
  });
  afterAll(async () => seg?.dispose());

  it('pipeline segments are the core maps, named', async () => {
    const segments = await seg(QUERIES[0], PROMPT);
    const [core] = await segmenter.segment(QUERIES[0], PROMPT);
    expect(segments.map((s) => s.label)).toEqual(['foreground']);
    expect(Array.from(segments[0].mask.data, (v) => (v === 255 ? 1 : 0))).toEqual(Array.from(core.ids));
  });

  it('pipeline.propagate yields one list of segments per frame, frame 0 as a plain call', async () => {
    const perFrame = [];
    for await (const segments of seg.propagate(QUERIES.slice(0, 3), { ...PROMPT, labels: ['red shapes'] })) perFrame.push(segments);
    expect(perFrame).toHaveLength(3);
    const plain = await seg(QUERIES[0], { ...PROMPT, labels: ['red shapes'] });
    expect(perFrame[0].map((s) => [s.label, Array.from(s.mask.data)])).toEqual(plain.map((s) => [s.label, Array.from(s.mask.data)]));
  });

  it('an option typo names the option it meant', async () => {
    await expect(seg(QUERIES[0], { ...PROMPT, prompt_mask: PROMPT.prompt_masks } as never)).rejects.toThrow(/unknown option "prompt_mask" \(did you mean "prompt_masks"\?\)/);
  });

  it('signal on the pipeline call', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(seg(QUERIES[0], { ...PROMPT, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

import { join } from 'node:path';

import * as T from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  InputError,
  SEGGPT_DEFAULT_MODEL,
  SegGPTImageSegmentationPipeline,
  pipeline,
  setDefaultSegGPTModel,
  type SegGPTSegment,
  type SegGPTSegmentationOptions,
} from '../src/index.node.js';
import { tinyCases, type TinyCase } from './support/fixtures.js';
import { readNpy } from '../dev/npy.js';
import { SEGFORMER_LABELS, convertTinyRepo, removeRepo, writeSegformerRepo } from './support/transformers_repos.js';

// Without num_labels the reference map is int(mean of RGB) (0–255); the README allows a pixel whose mean sits on an
// integer boundary to move by one, which can move it across the mask threshold: allow 0.5 % of the pixels.
const BINARY_MISMATCH_FRACTION = 0.005;

const cases = tinyCases();
const byName = (prefix: string): TinyCase => cases.find((c) => c.name.startsWith(prefix))!;

interface Call {
  images: string | string[];
  options: SegGPTSegmentationOptions;
  few_shot: boolean;
}

/** The pipeline call that corresponds to a fixture case (files passed as paths, as a user would). */
function callOf(c: TinyCase): Call {
  const file = (item: { file: string }) => join(c.dir, item.file);
  const { images, prompt_images, prompt_masks } = c.json.inputs;
  const kwargs = c.json.model_call.kwargs as { embedding_type?: 'semantic' | 'instance'; feature_ensemble?: boolean };
  // Case 04 is one image with two prompts: the reference repeats the image by hand, the pipeline does it itself.
  const few_shot = images.length > 1 && prompt_images.length > 1 && c.json.model_call.kwargs.feature_ensemble === true;
  const options: SegGPTSegmentationOptions = {
    prompt_images: prompt_images.map(file),
    prompt_masks: prompt_masks.map(file),
    embedding_type: kwargs.embedding_type,
    ...(kwargs.feature_ensemble !== undefined && { feature_ensemble: kwargs.feature_ensemble }),
    ...(c.json.post_process_call.num_labels != null && { num_labels: c.json.post_process_call.num_labels }),
  };
  return { images: few_shot || images.length === 1 ? file(images[0]) : images.map(file), options, few_shot };
}

function asLists(result: SegGPTSegment[] | SegGPTSegment[][], images: string | string[]): SegGPTSegment[][] {
  return Array.isArray(images) ? (result as SegGPTSegment[][]) : [result as SegGPTSegment[]];
}

/** Checks the segments of image i against segmentation_<i>.npy; returns the mismatching pixel count. */
function compareWithReference(c: TinyCase, i: number, segments: SegGPTSegment[], numLabels: number | null): number {
  const ref = readNpy(join(c.dir, `segmentation_${i}.npy`));
  const values = Array.from(ref.data as ArrayLike<number | bigint>, Number);
  const [height, width] = ref.shape;
  for (const s of segments) {
    expect([s.mask.width, s.mask.height, s.mask.channels]).toEqual([width, height, 1]);
    expect(s.score).toBeNull();
  }
  if (numLabels === null) {
    const expectedInside = values.map((v) => v > 127.5);
    expect(segments.map((s) => s.label)).toEqual(expectedInside.some(Boolean) ? ['foreground'] : []);
    if (segments.length === 0) return 0;
    return expectedInside.filter((inside, k) => inside !== (segments[0].mask.data[k] === 255)).length;
  }
  const present = [...new Set(values)].filter((v) => v !== 0).sort((a, b) => a - b);
  expect(segments.map((s) => s.label)).toEqual(present.map((id) => `class_${id}`));
  let mismatches = 0;
  segments.forEach((s, n) => {
    values.forEach((v, k) => {
      if ((v === present[n]) !== (s.mask.data[k] === 255)) mismatches++;
    });
  });
  return mismatches;
}

let dir: string;
let segformerDir: string;
let segmenter: SegGPTImageSegmentationPipeline;

beforeAll(async () => {
  [dir, segformerDir] = await Promise.all([convertTinyRepo(), writeSegformerRepo()]);
  segmenter = (await pipeline('image-segmentation', dir)) as SegGPTImageSegmentationPipeline;
}, 180_000);

afterAll(async () => {
  await segmenter?.dispose();
  removeRepo(dir);
  removeRepo(segformerDir);
});

describe("pipeline('image-segmentation', seggptFolder)", () => {
  it('returns a SegGPTImageSegmentationPipeline (an ImageSegmentationPipeline)', () => {
    expect(segmenter).toBeInstanceOf(SegGPTImageSegmentationPipeline);
    expect(segmenter).toBeInstanceOf(T.ImageSegmentationPipeline);
    expect(segmenter.task).toBe('image-segmentation');
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: masks match segmentation_<i>.npy', async (_name, c) => {
    const { images, options, few_shot } = callOf(c);
    const lists = asLists(await segmenter(images as never, options), images);
    const numLabels = c.json.post_process_call.num_labels ?? null;
    // Few-shot gives one answer for the one image: the reference's first batch item.
    expect(lists.length).toBe(few_shot ? 1 : c.json.inputs.images.length);
    lists.forEach((segments, i) => {
      const mismatches = compareWithReference(c, i, segments, numLabels);
      const pixels = segments[0] ? segments[0].mask.width * segments[0].mask.height : 1;
      expect(mismatches / pixels).toBeLessThanOrEqual(numLabels === null ? BINARY_MISMATCH_FRACTION : 0);
    });
  });

  it('names segments with labels, and several labels imply num_labels', async () => {
    const c = byName('02');
    const { images, options } = callOf(c);
    const named = (await segmenter(images as string, { ...options, labels: ['a', 'b', 'c'] })) as SegGPTSegment[];
    expect(named.map((s) => s.label)).toEqual(['a', 'b', 'c']);
    const { num_labels: _omit, ...withoutNumLabels } = options;
    const implied = (await segmenter(images as string, { ...withoutNumLabels, labels: ['a', 'b', 'c'] })) as SegGPTSegment[];
    expect(implied.map((s) => Array.from(s.mask.data))).toEqual(named.map((s) => Array.from(s.mask.data)));
    const single = (await segmenter(join(byName('01').dir, 'image_0.png'), { ...callOf(byName('01')).options, labels: ['object'] })) as SegGPTSegment[];
    expect(single.map((s) => s.label)).toEqual(['object']);
  });

  it('labels instance-mode segments as instances', async () => {
    const { images, options } = callOf(byName('02'));
    const segments = (await segmenter(images as string, { ...options, embedding_type: 'instance' })) as SegGPTSegment[];
    expect(segments.length).toBeGreaterThan(0);
    for (const s of segments) expect(s.label).toMatch(/^instance_[1-3]$/);
  });

  it('threshold moves the binary mask boundary', async () => {
    const { images, options } = callOf(byName('01'));
    const count = (segments: SegGPTSegment[]) => segments.reduce((n, s) => n + s.mask.data.filter((v) => v === 255).length, 0);
    const loose = count((await segmenter(images as string, { ...options, threshold: 0.1 })) as SegGPTSegment[]);
    const strict = count((await segmenter(images as string, { ...options, threshold: 0.9 })) as SegGPTSegment[]);
    expect(loose).toBeGreaterThan(strict);
  });

  it('keeps concurrent calls apart (same results as one at a time)', async () => {
    const calls = cases.map(callOf);
    const sequential: (SegGPTSegment[] | SegGPTSegment[][])[] = [];
    for (const call of calls) sequential.push(await segmenter(call.images as never, call.options));
    const concurrent = await Promise.all(calls.map((call) => segmenter(call.images as never, call.options)));
    const flat = (r: SegGPTSegment[] | SegGPTSegment[][]) =>
      JSON.stringify((r as unknown[]).flat().map((s) => [(s as SegGPTSegment).label, Array.from((s as SegGPTSegment).mask.data)]));
    expect(concurrent.map(flat)).toEqual(sequential.map(flat));
  });

  it('rejects bad calls with InputError', async () => {
    const { images, options } = callOf(byName('01'));
    const image = images as string;
    const prompt = (options.prompt_images as string[])[0];
    const mask = (options.prompt_masks as string[])[0];
    const bad: [unknown, unknown][] = [
      [image, undefined],
      [image, { prompt_images: [prompt] }],
      [image, { prompt_images: [prompt, prompt], prompt_masks: [mask] }],
      [image, { prompt_images: [prompt], prompt_masks: [mask], prompt_image: prompt }],
      [image, { prompt_images: [prompt], prompt_masks: [mask], embedding_type: 'panoptic' }],
      [image, { prompt_images: [prompt, prompt], prompt_masks: [mask, mask], feature_ensemble: false }],
      [[image, image, image], { prompt_images: [prompt, prompt], prompt_masks: [mask, mask] }],
      [image, { prompt_images: [prompt], prompt_masks: [mask], num_labels: 2, labels: ['a'] }],
      [image, { prompt_images: [prompt], prompt_masks: [mask], threshold: 2 }],
      [image, { prompt_images: [prompt], prompt_masks: [mask], num_labels: 1 }], // mask holds 255
      [image, { prompt_images: [prompt], prompt_masks: [new T.RawImage(new Uint8ClampedArray([0, 1, 1, 0]), 2, 2, 1)] }],
      [[], { prompt_images: [prompt], prompt_masks: [mask] }],
    ];
    for (const [imgs, opts] of bad) {
      await expect(segmenter(imgs as never, opts as never), JSON.stringify(opts)).rejects.toBeInstanceOf(InputError);
    }
  });
});

describe('alias and routing', () => {
  it("'seggpt' resolves to the configurable default model", async () => {
    const previous = SEGGPT_DEFAULT_MODEL;
    setDefaultSegGPTModel(dir);
    try {
      const byTask = await pipeline('seggpt');
      const byModel = await pipeline('image-segmentation', 'seggpt');
      expect(byTask).toBeInstanceOf(SegGPTImageSegmentationPipeline);
      expect(byModel).toBeInstanceOf(SegGPTImageSegmentationPipeline);
      await Promise.all([byTask.dispose(), byModel.dispose()]);
    } finally {
      setDefaultSegGPTModel(previous);
    }
    expect(() => setDefaultSegGPTModel('')).toThrow();
  });

  it("the library's own pipeline() also segments with SegGPT checkpoints", async () => {
    const library = await T.pipeline('image-segmentation', dir);
    expect(library).not.toBeInstanceOf(SegGPTImageSegmentationPipeline);
    const { images, options } = callOf(byName('02'));
    const ours = (await segmenter(images as string, options)) as SegGPTSegment[];
    const theirs = (await (library as unknown as SegGPTImageSegmentationPipeline)(images as string, options)) as SegGPTSegment[];
    expect(theirs.map((s) => [s.label, Array.from(s.mask.data)])).toEqual(ours.map((s) => [s.label, Array.from(s.mask.data)]));
    await library.dispose();
  });

  it('non-SegGPT checkpoints get the library pipeline', async () => {
    const other = (await pipeline('image-segmentation', segformerDir)) as T.ImageSegmentationPipeline;
    expect(other).toBeInstanceOf(T.ImageSegmentationPipeline);
    expect(other).not.toBeInstanceOf(SegGPTImageSegmentationPipeline);
    const red = new T.RawImage(new Uint8ClampedArray(16 * 12 * 3).map((_, i) => (i % 3 === 0 ? 255 : 0)), 16, 12, 3);
    const out = await other(red);
    expect(out.map((s) => s.label)).toEqual([SEGFORMER_LABELS[0]]);
    expect([out[0].mask.width, out[0].mask.height]).toEqual([16, 12]);
    expect(out[0].mask.data.every((v) => v === 255)).toBe(true);
    await other.dispose();
  });
});

/**
 * The full round trip on a hub on loopback: seggpt convert → seggpt publish → anyone's
 * pipeline('image-segmentation', '<their repo>') through Transformers.js's own remote loading
 * (revision, cache, progress_callback, local_files_only, redirects, ranges, 404s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, RawImage } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { publishModel } from '../src/conversion/hub/publish.js';
import { pipeline, SEGGPT_DEFAULT_MODEL, setDefaultSegGPTModel } from '../src/index.node.js';
import { TINY, tinyCases } from './support/fixtures.js';
import { startHubServer, type HubServer } from '../dev/hub_server.js';
import { readNpy } from '../dev/npy.js';

const TOKEN = 'hf_roundTripToken000111222';
const REPO = 'someone/seggpt-tiny-onnx';

let work: string;
let hub: HubServer;
const saved = { remoteHost: env.remoteHost, cacheDir: env.cacheDir, allowLocalModels: env.allowLocalModels, allowRemoteModels: env.allowRemoteModels };

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'seggpt-roundtrip-'));
  hub = await startHubServer({ token: TOKEN });
  const converted = join(work, 'converted');
  // external data on purpose: the second file must come along through the hub too
  await convertCheckpoint({ checkpoint: TINY, output: converted, dtypes: 'fp32,q8', external_data: true });
  await publishModel(converted, { repo: REPO, hubUrl: hub.url, token: TOKEN });
  await publishModel(converted, { repo: REPO, revision: 'v2', hubUrl: hub.url, token: TOKEN });
  env.remoteHost = `${hub.url}/`;
  env.cacheDir = join(work, 'tjs-cache');
});

afterAll(async () => {
  Object.assign(env, saved);
  await hub?.close();
  rmSync(work, { recursive: true, force: true });
});

async function segmentCase01(segmenter: unknown) {
  const c = tinyCases()[0];
  const [image, prompt, mask] = await Promise.all(['image_0.png', 'prompt_image_0.png', 'prompt_mask_0.png'].map((f) => RawImage.read(join(c.dir, f))));
  const segments = await (segmenter as any)(image, { prompt_images: prompt, prompt_masks: mask, embedding_type: 'semantic' });
  // The reference map of this case, binarised the same way (value ≥ 128).
  const reference = readNpy(join(c.dir, 'segmentation_0.npy')).data as BigInt64Array;
  const got = segments[0].mask.data as Uint8Array;
  let differ = 0;
  for (let i = 0; i < got.length; i++) if ((got[i] >= 128) !== (reference[i] >= 128n)) differ++;
  return { segments, differ };
}

const fileRequests = () => hub.received.requests.filter((r) => r.url.includes(`/${REPO}/resolve/`));

describe('a published SegGPT repo', () => {
  test('loads by id with progress events and segments like the reference', async () => {
    const events: any[] = [];
    const segmenter = await pipeline('image-segmentation', REPO, { progress_callback: (e: unknown) => events.push(e) });
    const { segments, differ } = await segmentCase01(segmenter);
    expect(segments).toHaveLength(1);
    expect(differ).toBeLessThanOrEqual(2); // threshold pixels only
    const files = new Set(events.filter((e) => e.status === 'done').map((e) => e.file));
    for (const f of ['config.json', 'preprocessor_config.json', 'onnx/model.onnx', 'onnx/model.onnx_data']) expect(files.has(f), f).toBe(true);
    expect(events.some((e) => e.status === 'progress' && e.total > 0)).toBe(true);
    await segmenter.dispose();
    // the LFS-sized files went through the hub's redirect
    expect(fileRequests().some((r) => r.status === 302)).toBe(true);
  });

  test('a second load comes from the cache, and local_files_only works offline', async () => {
    const before = fileRequests().length;
    const again = await pipeline('image-segmentation', REPO, { local_files_only: true });
    expect(fileRequests().length).toBe(before);
    const { differ } = await segmentCase01(again);
    expect(differ).toBeLessThanOrEqual(2);
    await again.dispose();
  });

  test('revision and dtype pick the right files', async () => {
    const q8 = await pipeline('image-segmentation', REPO, { revision: 'v2', dtype: 'q8' });
    expect(fileRequests().some((r) => r.url.includes('/resolve/v2/onnx/model_quantized.onnx'))).toBe(true);
    await q8.dispose();
  });

  test("the 'seggpt' alias resolves to the default repo", async () => {
    const previous = SEGGPT_DEFAULT_MODEL;
    setDefaultSegGPTModel(REPO);
    try {
      const segmenter = await pipeline('image-segmentation', 'seggpt');
      const { differ } = await segmentCase01(segmenter);
      expect(differ).toBeLessThanOrEqual(2);
      await segmenter.dispose();
    } finally {
      setDefaultSegGPTModel(previous);
    }
  });

  test('a repo or file that is not there fails clearly', async () => {
    await expect(pipeline('image-segmentation', 'someone/not-published')).rejects.toThrow(/someone\/not-published|404|not found|Could not locate/i);
    await expect(pipeline('image-segmentation', REPO, { dtype: 'q4' })).rejects.toThrow(/model_q4\.onnx|q4/);
  });
});

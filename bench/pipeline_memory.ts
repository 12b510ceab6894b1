/**
 * `npm run bench:memory`: 1000 sequential pipeline calls on the tiny model; RSS and heap sampled every 100 calls.
 * Flat means no growth after the warm-up beyond allocator noise (the table prints the slope).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawImage } from '@huggingface/transformers';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { pipeline } from '../src/index.node.js';
import { tinyFixture } from '../dev/fixtures.js';

const CALLS = Number(process.env.SEGGPT_MEMORY_CALLS ?? 1000);
const SAMPLE_EVERY = 100;

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'seggpt-memory-'));
  try {
    const model = join(work, 'tiny-onnx');
    await convertCheckpoint({ checkpoint: tinyFixture(), output: model });
    const caseDir = join(tinyFixture(), 'cases', '01_single_binary_semantic');
    const [image, prompt, mask] = await Promise.all(['image_0.png', 'prompt_image_0.png', 'prompt_mask_0.png'].map((f) => RawImage.read(join(caseDir, f))));
    const segmenter = await pipeline('seggpt', model);
    const samples: { calls: number; rss: number; heap: number; external: number }[] = [];
    const started = performance.now();
    for (let i = 1; i <= CALLS; i++) {
      await segmenter(image, { prompt_images: prompt, prompt_masks: mask, embedding_type: 'semantic' });
      if (i % SAMPLE_EVERY === 0) {
        const m = process.memoryUsage();
        samples.push({ calls: i, rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, external: (m.external + m.arrayBuffers) / 2 ** 20 });
      }
    }
    const seconds = (performance.now() - started) / 1000;
    await segmenter.dispose();
    console.log('| calls | RSS MB | heap MB | external+buffers MB |');
    console.log('| ---: | ---: | ---: | ---: |');
    for (const s of samples) console.log(`| ${s.calls} | ${s.rss.toFixed(1)} | ${s.heap.toFixed(1)} | ${s.external.toFixed(1)} |`);
    // Least-squares slope of RSS over the second half of the run (after warm-up), per 100 calls.
    const tail = samples.slice(Math.floor(samples.length / 2));
    const mx = tail.reduce((a, s) => a + s.calls, 0) / tail.length;
    const my = tail.reduce((a, s) => a + s.rss, 0) / tail.length;
    const slope = tail.reduce((a, s) => a + (s.calls - mx) * (s.rss - my), 0) / tail.reduce((a, s) => a + (s.calls - mx) ** 2, 0);
    console.log(`\n${CALLS} calls in ${seconds.toFixed(1)} s (${((seconds / CALLS) * 1000).toFixed(1)} ms per call); RSS slope over the second half: ${(slope * 100).toFixed(2)} MB per 100 calls`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

// A fresh Node process that loads a SegGPT model by id with the built package (as a user's second process would),
// segments one tiny fixture case and prints JSON lines on stdout: {"event": …} per progress event (when asked),
// then {"result": { width, height, mask (base64 of the first segment's mask) }} or {"error": { name, message }}.

import { join } from 'node:path';
import { env, RawImage } from '@huggingface/transformers';

const args = JSON.parse(process.argv[2]);
const { pipeline } = await import(args.package);
if (args.remoteHost) env.remoteHost = args.remoteHost;
if (args.cacheDir) env.cacheDir = args.cacheDir;
const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
try {
  const options = { ...(args.options ?? {}) };
  if (args.progress) options.progress_callback = (event) => say({ event });
  const segmenter = await pipeline('image-segmentation', args.id, options);
  const [image, prompt, mask] = await Promise.all(['image_0.png', 'prompt_image_0.png', 'prompt_mask_0.png'].map((f) => RawImage.read(join(args.caseDir, f))));
  const segments = await segmenter(image, { prompt_images: prompt, prompt_masks: mask, embedding_type: 'semantic' });
  const first = segments[0]?.mask;
  say({ result: { segments: segments.length, width: first?.width, height: first?.height, mask: first ? Buffer.from(first.data).toString('base64') : null } });
  await segmenter.dispose();
} catch (error) {
  say({ error: { name: error?.name, message: String(error?.message ?? error) } });
  process.exitCode = 1;
}

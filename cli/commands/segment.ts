import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { RawImage } from '@huggingface/transformers';
import { BackendError, InputError, SegGPTError, SegGPTForImageSegmentation, SegGPTImageProcessor, SEGGPT_DEFAULT_MODEL } from '../../src/index.node.js';
import { intOption, listOption, stringOption, type CommandSpec, type ParsedArgs } from '../args.js';
import { classMapOf, maskImage, overlayImage, savePng, type ClassMap } from '../render.js';
import { configureLoading, resolveModelSource } from '../model_source.js';
import type { Progress } from '../progress.js';

const DTYPES = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16'];
const DEVICES = ['cpu', 'cuda', 'webgpu', 'dml', 'coreml'];
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.gif', '.tif', '.tiff', '.avif']);

export const segmentSpec: CommandSpec = {
  name: 'segment',
  summary:
    'Segment images from examples: each prompt image with its prompt mask shows what to find. Several prompts mean few-shot ' +
    '(feature ensemble); several images are segmented one after another. Writes <name>_mask.png, <name>_overlay.png and <name>.json per image.',
  usage: 'seggpt segment <image...> --prompt-image <file...> --prompt-mask <file...> [options]',
  options: {
    'prompt-image': { kind: 'list', value: '<file...>', description: 'example image(s)' },
    'prompt-mask': { kind: 'list', value: '<file...>', description: 'mask of each example: 1-channel (0 = background) or RGB' },
    'num-labels': { kind: 'string', value: '<n>', description: 'masks are class maps 0..n (palette colouring); output is a class map' },
    'embedding-type': { kind: 'string', value: 'semantic|instance', description: 'type token', default: 'semantic' },
    'feature-ensemble': { kind: 'boolean', description: 'force feature ensemble (on by default with several prompts)' },
    model: { kind: 'string', value: '<id|folder>', description: 'hub id or folder: converted, or a Hugging Face checkpoint (converted on first use and cached); "seggpt" = BAAI/seggpt-vit-large (default: the bundled seggpt-shapes demo model)' },
    revision: { kind: 'string', value: '<rev>', description: 'branch, tag or commit of a hub model', default: 'main' },
    'hub-url': { kind: 'string', value: '<url>', description: 'hub to load ids from (default: $HF_ENDPOINT, else https://huggingface.co)' },
    'cache-dir': { kind: 'string', value: '<folder>', description: 'downloads and conversions (default: $SEGGPT_CACHE_DIR, else ~/.cache/transformers-seggpt)' },
    'local-files-only': { kind: 'boolean', description: 'no network: use only what earlier runs cached' },
    device: { kind: 'string', value: '<device>', description: `${DEVICES.join(', ')}`, default: 'cpu' },
    dtype: { kind: 'string', value: '<dtype>', description: `${DTYPES.join(', ')}`, default: 'fp32' },
    output: { kind: 'string', value: '<folder>', description: 'where to write the pictures and summaries', default: 'seggpt-output' },
    frames: { kind: 'string', value: '<folder>', description: 'segment a frame sequence in name order, each earlier prediction becoming an extra prompt (video mode)' },
    quiet: { kind: 'boolean', description: 'no progress output' },
    help: { kind: 'boolean', description: 'show this help' },
  },
  examples: [
    'seggpt segment examples/shapes/ex1_query_image.png --prompt-image examples/shapes/ex1_prompt_image.png --prompt-mask examples/shapes/ex1_prompt_mask.png',
    'seggpt segment street.jpg --prompt-image a.jpg b.jpg --prompt-mask a.png b.png --model seggpt --dtype q8',
    'seggpt segment --frames ./video-frames --prompt-image frame0.png --prompt-mask frame0_mask.png',
  ],
};

interface Summary {
  image: string;
  width: number;
  height: number;
  mask: string;
  overlay: string;
  model: string;
  dtype: string;
  device: string;
  embedding_type: string;
  feature_ensemble: boolean;
  prompts: number;
  num_labels: number | null;
  labels: { label: number; pixels: number; fraction: number }[];
  seconds: number;
}

export async function runSegment(args: ParsedArgs, progress: Progress): Promise<void> {
  const promptImagePaths = listOption(args, 'prompt-image');
  const promptMaskPaths = listOption(args, 'prompt-mask');
  if (promptImagePaths.length === 0 || promptMaskPaths.length === 0) {
    throw new InputError('seggpt segment needs --prompt-image <file...> and --prompt-mask <file...>: one mask per example image');
  }
  if (promptImagePaths.length !== promptMaskPaths.length) {
    throw new InputError(`${promptImagePaths.length} prompt image(s) but ${promptMaskPaths.length} prompt mask(s): give one --prompt-mask per --prompt-image`);
  }
  const framesDir = stringOption(args, 'frames');
  const imagePaths = framesDir ? frameFiles(framesDir) : args.positionals;
  if (imagePaths.length === 0) throw new InputError('seggpt segment needs at least one image to segment (or --frames <folder>)');
  if (framesDir && args.positionals.length) throw new InputError('give either images or --frames <folder>, not both');
  const numLabels = intOption(args, 'num-labels');
  if (numLabels === 0) throw new InputError('--num-labels must be at least 1 (the number of classes besides background)');
  const embeddingType = stringOption(args, 'embedding-type') ?? 'semantic';
  if (embeddingType !== 'semantic' && embeddingType !== 'instance') throw new InputError(`--embedding-type must be semantic or instance, got "${embeddingType}"`);
  const dtype = stringOption(args, 'dtype') ?? 'fp32';
  if (!DTYPES.includes(dtype)) throw new InputError(`unknown --dtype "${dtype}": use one of ${DTYPES.join(', ')}`);
  const device = stringOption(args, 'device') ?? 'cpu';
  if (!DEVICES.includes(device)) throw new InputError(`unknown --device "${device}": use one of ${DEVICES.join(', ')}`);
  const outputDir = resolve(stringOption(args, 'output') ?? 'seggpt-output');

  const [images, promptImages, promptMasks] = await Promise.all([readAll(imagePaths), readAll(promptImagePaths), readAll(promptMaskPaths)]);
  promptImages.forEach((image, i) => warnOnAspectMismatch(image, promptMasks[i], promptImagePaths[i], promptMaskPaths[i], progress));

  const modelArg = stringOption(args, 'model');
  configureLoading({ hubUrl: stringOption(args, 'hub-url'), cacheDir: stringOption(args, 'cache-dir') });
  const source = resolveModelSource(modelArg === 'seggpt' ? SEGGPT_DEFAULT_MODEL : modelArg);
  const loadOptions = {
    dtype: dtype as 'fp32',
    device: device as 'cpu',
    revision: stringOption(args, 'revision'),
    local_files_only: Boolean(args.options['local-files-only']),
    progress_callback: (e: { status?: string; file?: string; loaded?: number; total?: number }) => {
      if (e.status === 'progress' && e.file) progress.update(`loading ${e.file}`, e.loaded ?? 0, e.total);
    },
  };
  let processor: SegGPTImageProcessor;
  let model: SegGPTForImageSegmentation;
  try {
    [processor, model] = await Promise.all([
      SegGPTImageProcessor.from_pretrained(source, loadOptions) as Promise<SegGPTImageProcessor>,
      SegGPTForImageSegmentation.from_pretrained(source, loadOptions) as Promise<SegGPTForImageSegmentation>,
    ]);
  } catch (error) {
    throw asLoadError(error, modelArg ?? source, device, dtype);
  }
  progress.finish();

  await mkdir(outputDir, { recursive: true });
  const featureEnsemble = Boolean(args.options['feature-ensemble']) || promptImages.length > 1 || Boolean(framesDir);
  const propagated: { image: RawImage; mask: RawImage }[] = [];
  try {
    for (let i = 0; i < images.length; i++) {
      const started = performance.now();
      const image = images[i];
      // Few-shot: the query is repeated once per prompt and the ensemble averages their features.
      const prompts = [...promptImages.map((p, k) => ({ image: p, mask: promptMasks[k] })), ...propagated];
      const inputs = await processor(
        prompts.map(() => image),
        { prompt_images: prompts.map((p) => p.image), prompt_masks: prompts.map((p) => p.mask), ...(numLabels ? { num_labels: numLabels } : {}) },
      );
      const outputs = await model(inputs, { embedding_type: embeddingType, feature_ensemble: featureEnsemble && prompts.length > 1 ? true : Boolean(args.options['feature-ensemble']) });
      // Every row of a few-shot batch carries the same (ensembled) answer: row 0 is the result.
      const [result] = processor.post_process_semantic_segmentation(outputs, prompts.map((): [number, number] => [image.height, image.width]), numLabels ?? undefined);
      const map = classMapOf(result.segmentation as unknown as { data: ArrayLike<number>; dims: number[] }, numLabels);
      const summary = await writeResult(outputDir, imagePaths[i], image, map, numLabels, {
        model: modelArg ?? 'seggpt-shapes (bundled demo)',
        dtype,
        device,
        embedding_type: embeddingType,
        feature_ensemble: featureEnsemble,
        prompts: prompts.length,
        seconds: (performance.now() - started) / 1000,
      });
      progress.line(`${imagePaths[i]} → ${summary.mask}, ${summary.overlay} (${summary.labels.filter((l) => l.label !== 0).map((l) => `label ${l.label}: ${(l.fraction * 100).toFixed(1)}%`).join(', ') || 'nothing found'})`);
      if (framesDir) {
        // Video mode: the latest prediction joins the prompts for the next frame (the first frame's prompts stay).
        propagated.splice(0, propagated.length, { image, mask: maskForPrompt(map, numLabels) });
      }
    }
  } finally {
    await model.dispose();
  }
}

function frameFiles(folder: string): string[] {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new InputError(`--frames ${folder} is not a folder of images`);
  const files = readdirSync(folder)
    .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
    .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  if (files.length === 0) throw new InputError(`--frames ${folder} holds no images (png, jpg, webp, …)`);
  return files.map((f) => join(folder, f));
}

async function readAll(paths: string[]): Promise<RawImage[]> {
  return Promise.all(
    paths.map(async (path) => {
      if (!existsSync(path)) throw new InputError(`${path} does not exist: check the path`);
      if (statSync(path).isDirectory()) throw new InputError(`${path} is a folder: pass image files (or --frames <folder> for a sequence)`);
      try {
        return await RawImage.read(path);
      } catch (error) {
        throw new InputError(`${path} is not an image that can be decoded (PNG, JPEG, WebP, …): ${(error as Error).message.split('\n')[0]}`);
      }
    }),
  );
}

function warnOnAspectMismatch(image: RawImage, mask: RawImage, imagePath: string, maskPath: string, progress: Progress): void {
  const a = image.width / image.height;
  const b = mask.width / mask.height;
  if (Math.abs(a - b) / a > 0.01) {
    progress.line(
      `warning: ${maskPath} (${mask.width}×${mask.height}) has another aspect ratio than ${imagePath} (${image.width}×${image.height}); both are resized to the model's input size, so the mask may not line up`,
    );
  }
}

/** A prediction turned back into a prompt mask (binary 0/255, or class ids for num_labels). */
function maskForPrompt(map: ClassMap, numLabels: number | undefined): RawImage {
  const data = new Uint8ClampedArray(map.ids.length);
  for (let i = 0; i < data.length; i++) data[i] = numLabels === undefined ? (map.ids[i] ? 255 : 0) : map.ids[i];
  return new RawImage(data, map.width, map.height, 1);
}

async function writeResult(
  folder: string,
  imagePath: string,
  image: RawImage,
  map: ClassMap,
  numLabels: number | undefined,
  meta: Omit<Summary, 'image' | 'width' | 'height' | 'mask' | 'overlay' | 'num_labels' | 'labels'>,
): Promise<Summary> {
  const stem = basename(imagePath, extname(imagePath));
  const mask = join(folder, `${stem}_mask.png`);
  const overlay = join(folder, `${stem}_overlay.png`);
  await savePng(maskImage(map, numLabels), mask);
  await savePng(overlayImage(image, map), overlay);
  const counts = new Map<number, number>();
  for (const id of map.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = map.ids.length;
  const summary: Summary = {
    image: resolve(imagePath),
    width: image.width,
    height: image.height,
    mask,
    overlay,
    ...meta,
    num_labels: numLabels ?? null,
    labels: [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([label, pixels]) => ({ label, pixels, fraction: pixels / total })),
  };
  await writeFile(join(folder, `${stem}.json`), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}

function asLoadError(error: unknown, model: string, device: string, dtype: string): Error {
  if (error instanceof SegGPTError) return error;
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (device !== 'cpu') return new BackendError(`device ${device} is not available here (${message}): use --device cpu, or see the README for enabling ${device}`);
  return new InputError(`cannot load model ${model} (${dtype}): ${message}`);
}

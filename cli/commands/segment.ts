import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { RawImage } from '@huggingface/transformers';
import {
  BackendError,
  DEFAULT_MEMORY,
  InputError,
  SegGPTError,
  SegGPTForImageSegmentation,
  SegGPTImageProcessor,
  SegGPTSegmenter,
  SEGGPT_DEFAULT_MODEL,
  type SegGPTPrediction,
  type SegGPTSegmentOptions,
} from '../../src/index.node.js';
import { SUPPORTED_DTYPES } from '../../src/conversion/variants.js';
import { hasImageSignature, IMAGE_HEADER_BYTES, imageSizeFromHeader } from '../../src/utils/image_header.js';
import { DEFAULT_MAX_PIXELS } from '../../src/processors/image_inputs.js';
import { intOption, listOption, stringOption, type CommandSpec, type ParsedArgs } from '../args.js';
import { MAX_PNG_CLASS_ID, maskImage, overlayImage, savePng } from '../render.js';
import { configureLoading, resolveModelSource } from '../model_source.js';
import type { Progress } from '../progress.js';

const DTYPES: readonly string[] = SUPPORTED_DTYPES;
const DEVICES = ['cpu', 'cuda', 'webgpu', 'dml', 'coreml'];
const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.bmp', '.gif', '.tif', '.tiff', '.avif']);

export const segmentSpec: CommandSpec = {
  name: 'segment',
  summary:
    'Segment images from examples: each prompt image with its prompt mask shows what to find. Several prompts mean few-shot ' +
    '(feature ensemble); several images are segmented one after another. Writes <name>_mask.png (0/255, or class ids with ' +
    '--num-labels), <name>_overlay.png and <name>.json per image; inputs with the same file name get their folder in <name>.',
  usage: 'seggpt segment <image...> --prompt-image <file...> --prompt-mask <file...> [options]',
  options: {
    'prompt-image': { kind: 'list', value: '<file...>', description: 'example image(s)' },
    'prompt-mask': { kind: 'list', value: '<file...>', description: 'mask of each example: black/white for one object, a 1-channel class map (0 = background) with --num-labels, or RGB colours' },
    'num-labels': { kind: 'string', value: '<n>', description: 'masks are class maps 0..n (palette colouring); the mask PNG then holds the class ids' },
    'embedding-type': { kind: 'string', value: 'semantic|instance', description: "type token (default: the model's, instance)" },
    'feature-ensemble': { kind: 'boolean', description: 'average over the prompts also with one prompt (on by default with several prompts)' },
    threshold: { kind: 'string', value: '<0..1>', description: 'binary masks: grey level / 255 above which a pixel is the object', default: '0.5' },
    'max-pixels': { kind: 'string', value: '<n>', description: 'refuse image files declaring more pixels, before decoding (default: 67108864, 8192²)' },
    model: { kind: 'string', value: '<id|folder>', description: 'hub id or folder: converted, or a Hugging Face checkpoint (converted on first use and cached); "seggpt" = BAAI/seggpt-vit-large (default: the bundled seggpt-shapes demo model)' },
    revision: { kind: 'string', value: '<rev>', description: 'branch, tag or commit of a hub model', default: 'main' },
    'hub-url': { kind: 'string', value: '<url>', description: 'hub to load ids from (default: $HF_ENDPOINT, else https://huggingface.co)' },
    'cache-dir': { kind: 'string', value: '<folder>', description: 'downloads and conversions (default: $SEGGPT_CACHE_DIR, else ~/.cache/transformers-seggpt)' },
    'local-files-only': { kind: 'boolean', description: 'no network: use only what earlier runs cached' },
    device: { kind: 'string', value: '<device>', description: `${DEVICES.join(', ')}`, default: 'cpu' },
    dtype: { kind: 'string', value: '<dtype>', description: `${DTYPES.join(', ')}`, default: 'fp32' },
    output: { kind: 'string', value: '<folder>', description: 'where to write the pictures and summaries', default: 'seggpt-output' },
    frames: { kind: 'string', value: '<folder>', description: 'video: segment the frames in name order, the last --memory predictions joining the prompts' },
    memory: { kind: 'string', value: '<k>', description: 'video: earlier predictions kept as prompts, oldest dropped first', default: String(DEFAULT_MEMORY) },
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

function numberOption(args: ParsedArgs, name: string): number | undefined {
  const v = stringOption(args, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InputError(`--${name} must be a number, got "${v}"`);
  return n;
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
  if (numLabels !== undefined && numLabels > MAX_PNG_CLASS_ID) {
    throw new InputError(`--num-labels ${numLabels} is more than a 16-bit mask PNG holds (${MAX_PNG_CLASS_ID}); use the JavaScript API for more classes`);
  }
  const embeddingType = stringOption(args, 'embedding-type');
  if (embeddingType !== undefined && embeddingType !== 'semantic' && embeddingType !== 'instance') {
    throw new InputError(`--embedding-type must be semantic or instance, got "${embeddingType}"`);
  }
  const dtype = stringOption(args, 'dtype') ?? 'fp32';
  if (!DTYPES.includes(dtype)) throw new InputError(`unknown --dtype "${dtype}": use one of ${DTYPES.join(', ')}`);
  const device = stringOption(args, 'device') ?? 'cpu';
  if (!DEVICES.includes(device)) throw new InputError(`unknown --device "${device}": use one of ${DEVICES.join(', ')}`);
  const memory = intOption(args, 'memory');
  if (args.options.memory !== String(DEFAULT_MEMORY) && !framesDir) throw new InputError('--memory applies to video: give --frames <folder> too');
  const outputDir = resolve(stringOption(args, 'output') ?? 'seggpt-output');
  const outputNames = uniqueNames(imagePaths);
  const maxPixels = args.options['max-pixels'] === undefined ? DEFAULT_MAX_PIXELS : intOption(args, 'max-pixels')!;
  if (maxPixels < 1) throw new InputError('--max-pixels must be at least 1');
  for (const path of [...imagePaths, ...promptImagePaths, ...promptMaskPaths]) checkImageFile(path, maxPixels);

  const options: SegGPTSegmentOptions = {
    prompt_images: promptImagePaths,
    prompt_masks: promptMaskPaths,
    num_labels: numLabels ?? null,
    embedding_type: embeddingType as SegGPTSegmentOptions['embedding_type'],
    ...(args.options['feature-ensemble'] ? { feature_ensemble: true } : {}),
    threshold: numberOption(args, 'threshold'),
    max_pixels: maxPixels,
  };

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
  const segmenter = new SegGPTSegmenter(model, processor, { warn: (message) => progress.line(`warning: ${message.replace(/^SegGPT: /, '')}`) });
  const meta = { model: modelArg ?? 'seggpt-shapes (bundled demo)', dtype, device };
  try {
    // Images one after another (each its own run), or the frames as one video.
    const predictions: AsyncIterable<SegGPTPrediction> = framesDir
      ? segmenter.propagate(imagePaths, { ...options, memory })
      : (async function* () {
          for (const path of imagePaths) yield (await segmenter.segment(path, options))[0];
        })();
    let i = 0;
    let started = performance.now();
    for await (const prediction of predictions) {
      const summary = await writeResult(outputDir, outputNames[i], imagePaths[i], prediction, { ...meta, seconds: (performance.now() - started) / 1000 });
      const found = summary.labels.filter((l) => l.label !== 0).map((l) => `label ${l.label}: ${(l.fraction * 100).toFixed(1)}%`);
      progress.line(`${imagePaths[i]} → ${summary.mask}, ${summary.overlay} (${found.join(', ') || 'nothing found'})`);
      i++;
      started = performance.now();
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

/**
 * Fails before the model loads on what is surely wrong: a missing file, a folder, bytes no image format starts with,
 * a header declaring more pixels than --max-pixels.
 */
function checkImageFile(path: string, maxPixels: number): void {
  if (!existsSync(path)) throw new InputError(`${path} does not exist: check the path`);
  if (statSync(path).isDirectory()) throw new InputError(`${path} is a folder: pass image files (or --frames <folder> for a sequence)`);
  const head = Buffer.alloc(Math.min(IMAGE_HEADER_BYTES, 64 * 1024));
  const fd = openSync(path, 'r');
  let length: number;
  try {
    length = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  if (!hasImageSignature(head.subarray(0, length))) {
    throw new InputError(`${path} is not an image that can be decoded: use PNG, JPEG, WebP, GIF, BMP or TIFF`);
  }
  const size = imageSizeFromHeader(head.subarray(0, length));
  if (size && size.width * size.height > maxPixels) {
    throw new InputError(
      `${path} declares ${size.width}×${size.height} = ${((size.width * size.height) / 1e6).toFixed(1)} MP, above the limit of ` +
        `${(maxPixels / 1e6).toFixed(1)} MP (SegGPT sees 448 × 448): resize it, or raise the limit with --max-pixels`,
    );
  }
}

/**
 * Output names, one per input: the file name without its extension, prefixed with its folders (as many as it takes)
 * where two inputs share a name, so no result overwrites another.
 */
export function uniqueNames(paths: readonly string[]): string[] {
  const parts = paths.map((p) => resolve(p).split(/[\\/]+/).filter(Boolean));
  const stems = parts.map((segments) => basename(segments[segments.length - 1], extname(segments[segments.length - 1])));
  const names = stems.map((stem) => stem);
  for (let depth = 1; ; depth++) {
    const counts = new Map<string, number>();
    for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
    const clashing = names.map((name) => (counts.get(name) ?? 0) > 1);
    if (!clashing.some(Boolean)) return names;
    let changed = false;
    names.forEach((_, i) => {
      if (!clashing[i]) return;
      const folders = parts[i].slice(0, -1);
      if (depth > folders.length) return;
      names[i] = [...folders.slice(folders.length - depth), stems[i]].join('_');
      changed = true;
    });
    if (!changed) return names.map((name, i) => (clashing[i] ? `${name}_${i + 1}` : name)); // the same path twice
  }
}

/** Writes beside the target and renames, so an interrupted run never leaves a half-written file under the real name. */
async function writeAtomically(path: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp${extname(path)}`);
  try {
    await write(tmp);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

async function writeResult(
  folder: string,
  name: string,
  imagePath: string,
  prediction: SegGPTPrediction,
  meta: Pick<Summary, 'model' | 'dtype' | 'device' | 'seconds'>,
): Promise<Summary> {
  const image = await RawImage.read(imagePath);
  const mask = join(folder, `${name}_mask.png`);
  const overlay = join(folder, `${name}_overlay.png`);
  await writeAtomically(mask, (tmp) => savePng(maskImage(prediction), tmp));
  await writeAtomically(overlay, (tmp) => savePng(overlayImage(image, prediction), tmp));
  const counts = new Map<number, number>();
  for (const id of prediction.ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  const total = prediction.ids.length;
  const summary: Summary = {
    image: resolve(imagePath),
    width: prediction.width,
    height: prediction.height,
    mask,
    overlay,
    model: meta.model,
    dtype: meta.dtype,
    device: meta.device,
    embedding_type: prediction.embedding_type,
    feature_ensemble: prediction.feature_ensemble,
    prompts: prediction.prompts,
    num_labels: prediction.num_labels,
    labels: [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([label, pixels]) => ({ label, pixels, fraction: pixels / total })),
    seconds: meta.seconds,
  };
  await writeAtomically(join(folder, `${name}.json`), (tmp) => writeFile(tmp, JSON.stringify(summary, null, 2) + '\n'));
  return summary;
}

function asLoadError(error: unknown, model: string, device: string, dtype: string): Error {
  if (error instanceof SegGPTError) return error;
  const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
  if (device !== 'cpu') return new BackendError(`device ${device} is not available here (${message}): use --device cpu, or see the README for enabling ${device}`);
  return new InputError(`cannot load model ${model} (${dtype}): ${message}`);
}

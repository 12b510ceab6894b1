import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CheckpointError } from '../../errors.js';
import { formatBytes } from '../../utils/format_bytes.js';

export interface ModelCardOptions {
  /** The repo the card is published to, `owner/name`. */
  repo: string;
  /** Source checkpoint; default: `_name_or_path` of the folder's config.json when it is a repo id. */
  baseModel?: string;
}

/** What the converter's evaluation writes next to the model (`accuracy.json`). */
export interface AccuracyReport {
  variants: Record<string, { mean_iou?: number; max_abs?: number }>;
}

export interface OnnxVariant {
  dtype: string;
  /** The graph file, relative to the folder (`onnx/model_fp16.onnx`). */
  file: string;
  /** Graph plus its external-data files, in bytes. */
  size: number;
}

/** Transformers.js file suffix → dtype (longest suffixes first so `_q4f16` is not read as `_q4`). */
const SUFFIX_DTYPES: [string, string][] = [
  ['_quantized', 'q8'],
  ['_q4f16', 'q4f16'],
  ['_q2f16', 'q2f16'],
  ['_q1f16', 'q1f16'],
  ['_uint8', 'uint8'],
  ['_int8', 'int8'],
  ['_fp16', 'fp16'],
  ['_bnb4', 'bnb4'],
  ['_q4', 'q4'],
  ['_q2', 'q2'],
  ['_q1', 'q1'],
];
const DTYPE_ORDER = ['fp32', 'fp16', 'q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4', 'q2', 'q2f16', 'q1', 'q1f16'];
const REPO_ID = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/;

function dtypeOf(fileName: string): string {
  const stem = fileName.slice(0, -'.onnx'.length);
  return SUFFIX_DTYPES.find(([suffix]) => stem.endsWith(suffix))?.[1] ?? 'fp32';
}

/** The onnx/*.onnx graphs of a converted folder, with their sizes (external data included). */
export async function listOnnxVariants(folder: string): Promise<OnnxVariant[]> {
  let names: string[];
  try {
    names = await readdir(join(folder, 'onnx'));
  } catch {
    return [];
  }
  const variants: OnnxVariant[] = [];
  for (const name of names.filter((n) => n.endsWith('.onnx')).sort()) {
    let size = 0;
    // External data sits beside the graph: model.onnx_data, model.onnx_data_1, ...
    for (const other of names) {
      if (other === name || other.startsWith(`${name}_data`)) size += (await stat(join(folder, 'onnx', other))).size;
    }
    variants.push({ dtype: dtypeOf(name), file: `onnx/${name}`, size });
  }
  const rank = (d: string) => (DTYPE_ORDER.includes(d) ? DTYPE_ORDER.indexOf(d) : DTYPE_ORDER.length);
  return variants.sort((a, b) => rank(a.dtype) - rank(b.dtype) || (a.file < b.file ? -1 : 1));
}

async function readJsonIfPresent(path: string): Promise<any | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${path} is not valid JSON: fix or delete it before publishing`);
  }
}

const fmtIou = (v: number | undefined) => (typeof v === 'number' ? v.toFixed(4) : '–');
const fmtAbs = (v: number | undefined) => (typeof v === 'number' ? v.toExponential(2) : '–');

/**
 * The README.md published with a converted SegGPT folder: hub metadata (library, task, base model,
 * tags), what the model is, one row per ONNX variant with its size and — when `accuracy.json` is
 * present — its measured accuracy, and a usage snippet.
 */
export async function buildModelCard(folder: string, options: ModelCardOptions): Promise<string> {
  const config = await readJsonIfPresent(join(folder, 'config.json'));
  const accuracy = (await readJsonIfPresent(join(folder, 'accuracy.json'))) as AccuracyReport | undefined;
  const fromConfig = typeof config?._name_or_path === 'string' && REPO_ID.test(config._name_or_path) ? config._name_or_path : undefined;
  const baseModel = options.baseModel ?? fromConfig;
  const variants = await listOnnxVariants(folder);
  const measured = accuracy?.variants ?? {};
  const hasAccuracy = variants.some((v) => measured[v.dtype]);
  const name = options.repo.split('/')[1] ?? options.repo;

  const lines: string[] = ['---', 'library_name: transformers.js', 'pipeline_tag: image-segmentation'];
  if (baseModel) lines.push(`base_model: ${baseModel}`);
  lines.push('tags:', '  - seggpt', '  - onnx', '---', '', `# ${name}`, '');
  lines.push(
    `SegGPT ("Segmenting Everything In Context") converted to ONNX for [Transformers.js](https://huggingface.co/docs/transformers.js)` +
      (baseModel ? `, from [${baseModel}](https://huggingface.co/${baseModel}).` : '.'),
    'Give it one or more prompt images with their masks, and it segments the same kind of region in a new image —',
    'no training, the prompt is the task.',
    '',
    'Converted with `transformers-seggpt`, the package that also registers the',
    'model, its image processor and the `image-segmentation` pipeline with Transformers.js.',
    '',
    '## Variants',
    '',
  );
  if (variants.length === 0) {
    lines.push('No ONNX files were found in this upload.');
  } else {
    lines.push(
      hasAccuracy ? '| dtype | file | size | mean IoU | max abs diff |' : '| dtype | file | size |',
      hasAccuracy ? '| --- | --- | --- | --- | --- |' : '| --- | --- | --- |',
    );
    for (const v of variants) {
      const row = [v.dtype, `\`${v.file}\``, formatBytes(v.size)];
      if (hasAccuracy) row.push(fmtIou(measured[v.dtype]?.mean_iou), fmtAbs(measured[v.dtype]?.max_abs));
      lines.push(`| ${row.join(' | ')} |`);
    }
    if (hasAccuracy) {
      lines.push(
        '',
        'Accuracy was measured by the converter against the PyTorch reference (`SegGptForImageSegmentation`, fp32):',
        'mean IoU of the predicted segmentations and the largest absolute difference of `pred_masks`. “–” = not measured.',
      );
    }
  }
  const dtype = variants[0]?.dtype ?? 'fp32';
  lines.push(
    '',
    '## Usage',
    '',
    '```js',
    "// transformers-seggpt registers SegGPT with Transformers.js; its `pipeline` is Transformers.js' own plus SegGPT.",
    "import { pipeline } from 'transformers-seggpt';",
    '',
    `const segmenter = await pipeline('image-segmentation', '${options.repo}', { dtype: '${dtype}' });`,
    '// One example (image + black/white mask) defines what to segment in the query image.',
    "const segments = await segmenter('query.png', {",
    "  prompt_images: 'prompt.png',",
    "  prompt_masks: 'prompt_mask.png',",
    '});',
    '// [ { label, score, mask: RawImage } ] — masks at the query image\'s size',
    '```',
    '',
  );
  return lines.join('\n');
}

/**
 * The seggpt-shapes held-out protocol (its README): one prompt per task, embedding_type semantic,
 * post-processing without num_labels, foreground where the value ≥ 128, IoU against target.png ≥ 128,
 * averaged over tasks — run through the plugin's public pipeline API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawImage } from '@huggingface/transformers';
import { pipeline } from '../src/index.node.js';

export interface TaskResult {
  task: string;
  rule_type: string;
  iou: number;
  reference_iou: number;
}

export interface EvalResult {
  dtype: string;
  mean_iou: number;
  mean_iou_colour: number;
  mean_iou_kind: number;
  reference_mean_iou: number;
  tasks: TaskResult[];
  seconds: number;
}

function iou(prediction: Uint8Array | null, target: RawImage): number {
  let inter = 0;
  let union = 0;
  const t = target.channels === 1 ? target : target.grayscale();
  for (let i = 0; i < t.data.length; i++) {
    const p = prediction ? prediction[i] >= 128 : false;
    const g = t.data[i] >= 128;
    if (p && g) inter++;
    if (p || g) union++;
  }
  return union ? inter / union : 1;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(xs.length, 1);

/** Evaluates a converted seggpt-shapes folder on `evalDir` (the fixture's eval/) with one dtype. */
export async function evaluateShapes(modelDir: string, evalDir: string, dtype: string, device = 'cpu'): Promise<EvalResult> {
  const index = JSON.parse(readFileSync(join(evalDir, 'index.json'), 'utf8'));
  const segmenter = await pipeline('seggpt', modelDir, { dtype: dtype as 'fp32', device: device as 'cpu' });
  const started = performance.now();
  const tasks: TaskResult[] = [];
  try {
    for (const task of index.tasks) {
      const dir = join(evalDir, task.task);
      const [image, prompt, mask, target] = await Promise.all(
        ['image.png', 'prompt_image.png', 'prompt_mask.png', 'target.png'].map((f) => RawImage.read(join(dir, f))),
      );
      const segments = await segmenter(image, { prompt_images: prompt, prompt_masks: mask, embedding_type: 'semantic' });
      const foreground = segments[0]?.mask.data as Uint8Array | undefined;
      tasks.push({ task: task.task, rule_type: task.rule_type, iou: iou(foreground ?? null, target), reference_iou: task.reference_iou });
    }
  } finally {
    await segmenter.dispose();
  }
  return {
    dtype,
    mean_iou: mean(tasks.map((t) => t.iou)),
    mean_iou_colour: mean(tasks.filter((t) => t.rule_type === 'colour').map((t) => t.iou)),
    mean_iou_kind: mean(tasks.filter((t) => t.rule_type === 'kind').map((t) => t.iou)),
    reference_mean_iou: index.reference_mean_iou,
    tasks,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The accuracy targets: fp32 vs the reference, every other variant vs fp32. */
export const IOU_TOLERANCE: Record<string, number> = {
  fp32: 0.005,
  fp16: 0.01,
  q8: 0.02,
  int8: 0.02,
  uint8: 0.02,
  q4: 0.03,
  q4f16: 0.03,
};

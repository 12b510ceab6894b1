import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { convertCheckpoint } from '../../src/conversion/node/convert.js';
import { DataType, Graph } from '../../src/conversion/onnx/graph.js';
import { writeModel } from '../../src/conversion/node/files.js';
import { TINY } from './fixtures.js';

/** Converts the seggpt-tiny fixture (fp32 unless told) into a fresh temporary Transformers.js repo folder. */
export async function convertTinyRepo(dtypes: string[] = ['fp32']): Promise<string> {
  const output = join(mkdtempSync(join(tmpdir(), 'seggpt-tjs-')), 'seggpt-tiny');
  await convertCheckpoint({ checkpoint: TINY, output, dtypes });
  return output;
}

export const SEGFORMER_LABELS = ['red', 'green', 'blue'];

/**
 * A SegFormer-shaped Transformers.js repo that the library itself resolves (model_type 'segformer',
 * SegformerImageProcessor, 8×8 input). Its ONNX graph is `logits = Identity(pixel_values)`, so the predicted class
 * of a pixel is its strongest colour channel: a pure red image is one 'red' segment.
 */
export async function writeSegformerRepo(): Promise<string> {
  const dir = join(mkdtempSync(join(tmpdir(), 'segformer-tjs-')), 'segformer-identity');
  mkdirSync(join(dir, 'onnx'), { recursive: true });
  const id2label = Object.fromEntries(SEGFORMER_LABELS.map((label, i) => [String(i), label]));
  const label2id = Object.fromEntries(SEGFORMER_LABELS.map((label, i) => [label, i]));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ model_type: 'segformer', architectures: ['SegformerForSemanticSegmentation'], num_channels: 3, id2label, label2id }),
  );
  writeFileSync(
    join(dir, 'preprocessor_config.json'),
    JSON.stringify({
      image_processor_type: 'SegformerImageProcessor',
      do_resize: true,
      size: { height: 8, width: 8 },
      resample: 2,
      do_rescale: true,
      rescale_factor: 1 / 255,
      do_normalize: false,
      image_mean: [0, 0, 0],
      image_std: [1, 1, 1],
      do_reduce_labels: false,
    }),
  );
  const g = new Graph('segformer-identity', 17);
  const pixels = g.input('pixel_values', DataType.FLOAT, ['batch', 3, 8, 8]);
  g.output(g.node('Identity', [pixels], {}, { name: 'logits.identity' }), 'logits', DataType.FLOAT, ['batch', 3, 8, 8]);
  await writeModel(g, join(dir, 'onnx', 'model.onnx'), { producer: 'test', version: '0' }, false);
  return dir;
}

/** Deletes a repo made by convertTinyRepo / writeSegformerRepo (with its temporary parent folder). */
export function removeRepo(dir: string | undefined): void {
  if (dir) rmSync(dirname(dir), { recursive: true, force: true });
}

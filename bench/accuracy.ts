/**
 * `npm run bench:accuracy [-- <converted seggpt-shapes folder>]`: mean held-out IoU of every variant in the folder
 * (converting the bundled checkpoint first when no folder is given), printed as a table and written to
 * <folder>/accuracy.json, which `seggpt publish` puts into the model card.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { convertCheckpoint } from '../src/conversion/node/convert.js';
import { resolveVariants } from '../src/conversion/variants.js';
import { evaluateShapes, IOU_TOLERANCE } from '../dev/shapes_eval.js';
import { fixturesRoot } from '../dev/fixtures.js';

async function main(): Promise<void> {
  const shapes = join(fixturesRoot(), 'seggpt-shapes');
  let folder = process.argv[2] ? resolve(process.argv[2]) : '';
  if (!folder) {
    folder = join(mkdtempSync(join(tmpdir(), 'seggpt-accuracy-')), 'seggpt-shapes-onnx');
    await convertCheckpoint({ checkpoint: join(resolve('.'), 'models', 'seggpt-shapes'), output: folder, dtypes: 'all' });
  }
  const present = new Set(readdirSync(join(folder, 'onnx')));
  const variants = resolveVariants('all').filter((v) => present.has(v.file));
  const rows: string[] = ['| dtype | mean IoU | colour rule | kind rule | Δ vs fp32 | target | seconds (64 tasks) |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |'];
  const report: Record<string, { mean_iou: number }> = {};
  let fp32 = NaN;
  for (const v of variants) {
    const r = await evaluateShapes(folder, join(shapes, 'eval'), v.dtype);
    if (v.dtype === 'fp32') fp32 = r.mean_iou;
    const delta = v.dtype === 'fp32' ? r.mean_iou - r.reference_mean_iou : r.mean_iou - fp32;
    const versus = v.dtype === 'fp32' ? ' (vs reference)' : '';
    rows.push(`| ${v.dtype} | ${r.mean_iou.toFixed(4)} | ${r.mean_iou_colour.toFixed(4)} | ${r.mean_iou_kind.toFixed(4)} | ${delta >= 0 ? '+' : ''}${delta.toFixed(4)}${versus} | ±${IOU_TOLERANCE[v.dtype]} | ${r.seconds.toFixed(1)} |`);
    report[v.dtype] = { mean_iou: r.mean_iou };
  }
  console.log(rows.join('\n'));
  if (existsSync(folder)) writeFileSync(join(folder, 'accuracy.json'), JSON.stringify({ dataset: 'seggpt-shapes eval (64 held-out tasks)', variants: report }, null, 2) + '\n');
  console.log(`\nwrote ${join(folder, 'accuracy.json')}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

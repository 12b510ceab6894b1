import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { SegGPTConfigFields } from '../../configs/seggpt_config_fields.js';
import { syntheticConfigFiles, syntheticSafetensors } from '../synthetic.js';

export interface WriteSyntheticOptions {
  /** preprocessor_config.json contents; default: SegGptImageProcessor defaults at image_size[0]/2 × image_size[1]. */
  preprocessor?: object;
  /** Bytes of model.safetensors written so far and in total. */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Writes a hub-layout checkpoint folder with synthetic-v1 weights: config.json, preprocessor_config.json and
 * model.safetensors. Each file is written under a temporary name and renamed when complete.
 */
export async function writeSyntheticCheckpoint(config: SegGPTConfigFields, folder: string, options: WriteSyntheticOptions = {}): Promise<void> {
  const configs = syntheticConfigFiles(config, options.preprocessor);
  await fs.mkdir(folder, { recursive: true });
  const weights = syntheticSafetensors(config);
  const path = join(folder, weights.path);
  const temp = `${path}.tmp-${process.pid}`;
  const handle = await fs.open(temp, 'w');
  try {
    let done = 0;
    for await (const chunk of weights.chunks()) {
      let written = 0;
      while (written < chunk.length) written += (await handle.write(chunk, written, chunk.length - written)).bytesWritten;
      done += chunk.length;
      options.onProgress?.(done, weights.byteLength);
    }
    await handle.close();
    await fs.rename(temp, path);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fs.rm(temp, { force: true });
    throw error;
  }
  // config.json last: a folder that has it is complete.
  for (const name of ['preprocessor_config.json', 'config.json'] as const) {
    const target = join(folder, name);
    await fs.writeFile(`${target}.tmp-${process.pid}`, configs[name]);
    await fs.rename(`${target}.tmp-${process.pid}`, target);
  }
}

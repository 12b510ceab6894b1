/**
 * The Chromium page of `npm run bench:preprocess`: the library's browser entry (bundled from src/ by esbuild) and
 * the shared measurement, exposed as `window.benchPrePost(config, width, height, runs)`.
 */
import { SegGPTImageProcessor } from '../../src/index.js';
import { resampleKernel } from '../../src/utils/pillow_resample.js';
import { measurePrePost } from '../preprocess_measure.js';

(window as unknown as { benchPrePost: unknown }).benchPrePost = (config: object, width: number, height: number, runs: number) =>
  measurePrePost(new SegGPTImageProcessor(config), width, height, runs, resampleKernel());

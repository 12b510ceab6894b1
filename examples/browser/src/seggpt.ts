/**
 * The one place where the demo imports the library: the package's own entry (`import … from 'transformers-seggpt'`
 * in an app), bundled from its sources so the page always runs the code under test. Importing it registers SegGPT
 * with Transformers.js. Only the worker (worker.ts) loads it; the page imports types alone.
 */
export { SegGPTForImageSegmentation, SegGPTImageProcessor, SegGPTSegmenter } from '../../../src/index.js';
export type { SegGPTPrediction } from '../../../src/index.js';
export type { PixelBuffer } from '../../../src/utils/pixel_buffer.js';
export { env, Tensor } from '@huggingface/transformers';

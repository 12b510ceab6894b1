import type { SegGPTPreprocessorConfigFields } from '../configs/seggpt_preprocessor_config.js';
import { channelTriple, describeValue } from '../configs/validate.js';
import { InputError } from '../errors.js';
import { isResampleId, type ResampleId } from '../utils/pixel_buffer.js';
import { MAX_NUM_LABELS } from './seggpt_palette.js';
import { checkMaxPixels } from './image_inputs.js';

/** The settings one preprocessing call runs with: the config, overridden by the call's options. */
export type SegGPTPreprocessSettings = Pick<
  SegGPTPreprocessorConfigFields,
  'do_resize' | 'size' | 'do_rescale' | 'rescale_factor' | 'do_normalize' | 'image_mean' | 'image_std' | 'do_convert_rgb'
> & {
  /** Filter for query and prompt images; prompt masks always use NEAREST. */
  resample: ResampleId;
  num_labels: number | null;
  /** Pixels an image file may declare before it is decoded. */
  max_pixels: number;
};

/** Per-call overrides, named as in HF `SegGptImageProcessor.preprocess`. */
export interface SegGPTPreprocessOverrides {
  do_resize?: boolean;
  size?: { height: number; width: number };
  resample?: ResampleId;
  do_rescale?: boolean;
  rescale_factor?: number;
  do_normalize?: boolean;
  image_mean?: number | [number, number, number];
  image_std?: number | [number, number, number];
  /** Turn one-channel prompt masks into RGB (palette with num_labels, else the value on all 3 channels). */
  do_convert_rgb?: boolean;
  /** Number of classes without the background; colours class-index prompt masks with `get_palette`. */
  num_labels?: number | null;
  /** Refuse image files that declare more pixels than this, before decoding them (default DEFAULT_MAX_PIXELS). */
  max_pixels?: number | null;
}

const OVERRIDE_KEYS = [
  'do_resize',
  'size',
  'resample',
  'do_rescale',
  'rescale_factor',
  'do_normalize',
  'image_mean',
  'image_std',
  'do_convert_rgb',
  'num_labels',
  'max_pixels',
] as const;

function bad(field: string, value: unknown, expected: string): InputError {
  return new InputError(`SegGPTImageProcessor: option ${field} must be ${expected} (got ${describeValue(value)})`);
}

/** Largest size override: the same bound as preprocessor_config.json's size. */
const MAX_SIZE = 8192;

/** Validates `num_labels` (shared with post-processing); null/undefined mean "no palette". */
export function checkNumLabels(value: unknown, where = 'num_labels'): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_NUM_LABELS) {
    throw bad(where, value, `an integer from 1 to ${MAX_NUM_LABELS} (the number of classes without the background), or null`);
  }
  return value;
}

function checkTriple(field: string, value: unknown, positive: boolean): [number, number, number] {
  const triple = channelTriple(value, (n) => Number.isFinite(n) && (!positive || n > 0));
  if (!triple) throw bad(field, value, `a number or 3 ${positive ? 'positive ' : ''}numbers (one per RGB channel)`);
  return triple;
}

function checkBool(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw bad(field, value, 'true or false');
  return value;
}

/**
 * Merges per-call overrides into the processor's config. `allowed` lists the other keys the caller
 * handles itself (e.g. prompt_images); any key outside both lists is an InputError.
 */
export function resolvePreprocessSettings(
  config: SegGPTPreprocessorConfigFields,
  options: Record<string, unknown>,
  allowed: readonly string[],
): SegGPTPreprocessSettings {
  for (const key of Object.keys(options)) {
    if (!(OVERRIDE_KEYS as readonly string[]).includes(key) && !allowed.includes(key)) {
      throw new InputError(
        `SegGPTImageProcessor: unknown option "${key}"; remove it (known options: ${[...allowed, ...OVERRIDE_KEYS].join(', ')})`,
      );
    }
  }
  // As in HF, an override left out or set to null (Python None) falls back to the config value.
  const pick = (key: (typeof OVERRIDE_KEYS)[number]): unknown => (options[key] === null ? undefined : options[key]);

  const settings: SegGPTPreprocessSettings = {
    do_resize: config.do_resize,
    size: { height: config.size.height, width: config.size.width },
    resample: config.resample as ResampleId,
    do_rescale: config.do_rescale,
    rescale_factor: config.rescale_factor,
    do_normalize: config.do_normalize,
    image_mean: [...config.image_mean],
    image_std: [...config.image_std],
    do_convert_rgb: config.do_convert_rgb,
    num_labels: checkNumLabels(pick('num_labels')),
    max_pixels: checkMaxPixels(pick('max_pixels')),
  };
  for (const key of ['do_resize', 'do_rescale', 'do_normalize', 'do_convert_rgb'] as const) {
    const value = pick(key);
    if (value !== undefined) settings[key] = checkBool(key, value);
  }
  const size = pick('size') as { height?: unknown; width?: unknown } | undefined;
  if (size !== undefined) {
    const dim = (n: unknown) => typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_SIZE;
    if (size === null || typeof size !== 'object' || !dim(size.height) || !dim(size.width)) {
      throw bad('size', size, `{ height, width } with integers from 1 to ${MAX_SIZE}`);
    }
    settings.size = { height: size.height as number, width: size.width as number };
  }
  const resample = pick('resample');
  if (resample !== undefined) {
    if (!isResampleId(resample)) throw bad('resample', resample, 'a PIL filter id 0–5 (3 = BICUBIC)');
    settings.resample = resample;
  }
  const rescale = pick('rescale_factor');
  if (rescale !== undefined) {
    if (typeof rescale !== 'number' || !Number.isFinite(rescale) || rescale <= 0) throw bad('rescale_factor', rescale, 'a number > 0');
    settings.rescale_factor = rescale;
  }
  const mean = pick('image_mean');
  if (mean !== undefined) settings.image_mean = checkTriple('image_mean', mean, false);
  const std = pick('image_std');
  if (std !== undefined) settings.image_std = checkTriple('image_std', std, true);
  return settings;
}

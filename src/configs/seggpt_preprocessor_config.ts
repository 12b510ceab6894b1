import { asObject, channelTriple, checkNesting, configError, passThrough, readBool, readInt, readNumber, type RawObject } from './validate.js';

/** `preprocessor_config.json` of a SegGPT checkpoint (HF `SegGptImageProcessor`). */
export interface SegGPTPreprocessorConfigFields {
  image_processor_type: string;
  do_resize: boolean;
  /** Size of each image (prompt or query) after resizing. */
  size: { height: number; width: number };
  /** PIL resampling filter for images (3 = BICUBIC); masks always use NEAREST. */
  resample: number;
  do_rescale: boolean;
  rescale_factor: number;
  do_normalize: boolean;
  image_mean: [number, number, number];
  image_std: [number, number, number];
  /** Turn one-channel prompt masks into RGB (palette or repeat). */
  do_convert_rgb: boolean;
  [key: string]: unknown;
}

/** HF `SegGptImageProcessor.__init__` defaults (ImageNet mean/std, 448×448, bicubic, 1/255). */
export const SEGGPT_PREPROCESSOR_DEFAULTS = Object.freeze({
  image_processor_type: 'SegGptImageProcessor',
  do_resize: true,
  size: Object.freeze({ height: 448, width: 448 }),
  resample: 3,
  do_rescale: true,
  rescale_factor: 1 / 255,
  do_normalize: true,
  image_mean: Object.freeze([0.485, 0.456, 0.406]) as readonly [number, number, number],
  image_std: Object.freeze([0.229, 0.224, 0.225]) as readonly [number, number, number],
  do_convert_rgb: true,
});

const KNOWN_KEYS = new Set<string>(Object.keys(SEGGPT_PREPROCESSOR_DEFAULTS));
const NO_KEYS = new Set<string>();
/** Largest processor size side: half of the model config's largest image side (SEGGPT_CONFIG_LIMITS.image_side). */
const MAX_SIZE = 8192;
/** PIL.Image.Resampling: NEAREST 0, LANCZOS 1, BILINEAR 2, BICUBIC 3, BOX 4, HAMMING 5. */
const MAX_RESAMPLE = 5;

/** Applies the HF defaults to a parsed `preprocessor_config.json` and validates it; throws SegGPTConfigError. */
export function parseSegGPTPreprocessorConfig(raw: unknown, source = 'preprocessor_config.json'): SegGPTPreprocessorConfigFields {
  const obj = asObject(raw, source, 'a SegGPT image processor config');
  checkNesting(obj, source);
  const get = (key: keyof typeof SEGGPT_PREPROCESSOR_DEFAULTS): unknown =>
    obj[key] === undefined || obj[key] === null ? SEGGPT_PREPROCESSOR_DEFAULTS[key] : obj[key];

  const image_processor_type = get('image_processor_type');
  if (typeof image_processor_type !== 'string' || !image_processor_type.startsWith('SegGptImageProcessor')) {
    throw configError(
      source,
      'image_processor_type',
      image_processor_type,
      'must be "SegGptImageProcessor"',
      'use the preprocessor_config.json that belongs to a SegGPT checkpoint',
    );
  }
  const resample = readInt(source, 'resample', get('resample'), 0);
  if (resample > MAX_RESAMPLE) {
    throw configError(source, 'resample', resample, `must be a PIL filter id 0–${MAX_RESAMPLE}`, 'use 3 (BICUBIC), as SegGPT checkpoints do');
  }
  const fields: SegGPTPreprocessorConfigFields = {
    image_processor_type,
    do_resize: readBool(source, 'do_resize', get('do_resize')),
    size: readSize(source, get('size')),
    resample,
    do_rescale: readBool(source, 'do_rescale', get('do_rescale')),
    rescale_factor: readNumber(source, 'rescale_factor', get('rescale_factor'), (n) => n > 0, '> 0 (usually 1/255)'),
    do_normalize: readBool(source, 'do_normalize', get('do_normalize')),
    image_mean: readTriple(source, 'image_mean', get('image_mean'), (n) => Number.isFinite(n), 'finite numbers'),
    image_std: readTriple(source, 'image_std', get('image_std'), (n) => Number.isFinite(n) && n > 0, 'numbers > 0'),
    do_convert_rgb: readBool(source, 'do_convert_rgb', get('do_convert_rgb')),
  };
  return { ...passThrough(obj, KNOWN_KEYS, NO_KEYS), ...fields };
}

/** The preprocessor config as the hub stores it (sorted keys). */
export function segGPTPreprocessorConfigToJSON(config: SegGPTPreprocessorConfigFields): RawObject {
  return Object.fromEntries(
    Object.keys(config)
      .filter((key) => config[key] !== undefined)
      .sort()
      .map((key) => [key, config[key]]),
  );
}

function readSize(source: string, value: unknown): { height: number; width: number } {
  if (typeof value === 'number') {
    const side = readInt(source, 'size', value, 1, MAX_SIZE);
    return { height: side, width: side };
  }
  const size = value as RawObject;
  if (size === null || typeof size !== 'object' || Array.isArray(size) || size.height === undefined || size.width === undefined) {
    throw configError(source, 'size', value, 'must be {"height": h, "width": w}', 'SegGPT resizes every image to a fixed height and width, e.g. {"height": 448, "width": 448}');
  }
  return { height: readInt(source, 'size.height', size.height, 1, MAX_SIZE), width: readInt(source, 'size.width', size.width, 1, MAX_SIZE) };
}

function readTriple(
  source: string,
  field: string,
  value: unknown,
  check: (n: number) => boolean,
  what: string,
): [number, number, number] {
  const triple = channelTriple(value, check);
  if (!triple) throw configError(source, field, value, `must be 3 ${what} (one per RGB channel)`, 'e.g. the ImageNet values of SegGptImageProcessor');
  return triple;
}

/** `transformers-seggpt/conversion` in Node: the runtime-neutral converter plus files, folders and the hub. */
export * from './index.js';
export { convertCheckpoint, type ConvertOptions, type ConvertProgress, type ConvertResult } from './node/convert.js';
export { openFileSource, folderCheckpointFiles, openCheckpointFolder, openSafetensorsFile, writeSerializedFiles, writeModel } from './node/files.js';
export { writeSyntheticCheckpoint, type WriteSyntheticOptions } from './node/synthetic.js';
export * from './hub/index.js';

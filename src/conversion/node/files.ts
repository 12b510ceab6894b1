/** Node adapters of the converter's byte sources and sinks: local files and folders. */
import { promises as fs } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CheckpointError } from '../../errors.js';
import { checkRange, type ByteSource, type CheckpointFiles } from '../byte_source.js';
import type { Graph } from '../onnx/graph.js';
import { serializeModel, type ModelMeta, type SerializedFile } from '../onnx/serialize.js';
import { openCheckpointWeights, SafetensorsFile, type CheckpointWeights } from '../safetensors.js';

/** Largest single positional read (libuv caps a read at INT32_MAX bytes). */
const READ_CHUNK = 1 << 30;

/** A local file as a ByteSource (positional reads, straight into the caller's memory). */
export async function openFileSource(path: string): Promise<ByteSource> {
  let handle: FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (error) {
    throw new CheckpointError(`${path}: cannot open the file (${(error as Error).message}); check the path or re-download the checkpoint`, { cause: error });
  }
  const { size } = await handle.stat();
  let closed = false;
  const readInto = async (offset: number, target: Uint8Array): Promise<void> => {
    if (closed) throw new CheckpointError(`${path}: the file was already closed; open it again`);
    checkRange(path, size, offset, target.length);
    let done = 0;
    while (done < target.length) {
      const { bytesRead } = await handle.read(target, done, Math.min(READ_CHUNK, target.length - done), offset + done);
      if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${offset + done}`);
      done += bytesRead;
    }
  };
  return {
    size,
    name: path,
    readInto,
    async read(offset, length) {
      const bytes = new Uint8Array(length);
      await readInto(offset, bytes);
      return bytes;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** The files of a checkpoint folder. A path that exists but is no regular file is an error, not "missing". */
export function folderCheckpointFiles(folder: string): CheckpointFiles {
  return {
    location: folder,
    async open(file) {
      const path = join(folder, file);
      let stat;
      try {
        stat = await fs.stat(path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return null;
        if (code === 'ELOOP') throw new CheckpointError(`${path} is a symbolic link that loops back on itself: replace it with the file`, { cause: error });
        throw new CheckpointError(`${path}: cannot read (${(error as Error).message})`, { cause: error });
      }
      if (stat.isDirectory()) throw new CheckpointError(`${path} is a folder, not a file: put the checkpoint's ${file} there`);
      if (!stat.isFile()) throw new CheckpointError(`${path} is not a regular file (a device, socket or pipe): put the checkpoint's ${file} there`);
      return openFileSource(path);
    },
  };
}

/** Opens and validates one .safetensors file. */
export async function openSafetensorsFile(path: string): Promise<SafetensorsFile> {
  return SafetensorsFile.open(await openFileSource(path));
}

/** Opens the weights of a checkpoint folder (model.safetensors, or the shards of its index). */
export async function openCheckpointFolder(folder: string): Promise<CheckpointWeights> {
  try {
    const stat = await fs.stat(folder);
    if (!stat.isDirectory()) throw new CheckpointError(`${folder} is a file: pass the checkpoint folder that holds config.json and model.safetensors`);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`${folder}: checkpoint folder not found; pass a folder holding config.json and model.safetensors`, { cause: error });
  }
  return openCheckpointWeights(folderCheckpointFiles(folder));
}

/** Streams serialized files into `folder` (each under its own relative path), in order. Returns bytes written per file. */
export async function writeSerializedFiles(folder: string, files: readonly SerializedFile[]): Promise<number[]> {
  const written: number[] = [];
  for (const file of files) written.push(await writeSerializedFile(join(folder, file.path), file));
  return written;
}

export async function writeSerializedFile(path: string, file: SerializedFile): Promise<number> {
  const handle = await fs.open(path, 'w');
  let position = 0;
  try {
    for await (const chunk of file.chunks()) {
      let done = 0;
      while (done < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position + done);
        done += bytesWritten;
      }
      position += chunk.length;
    }
  } finally {
    await handle.close();
  }
  if (position !== file.byteLength) throw new Error(`${path}: wrote ${position} bytes, expected ${file.byteLength}`);
  return position;
}

export interface WrittenModel {
  onnxPath: string;
  onnxBytes: number;
  externalDataPath?: string;
  externalDataBytes?: number;
}

/** Writes `graph` to `onnxPath` (and `<onnxPath>_data` with external data). */
export async function writeModel(graph: Graph, onnxPath: string, meta: ModelMeta, externalData: boolean): Promise<WrittenModel> {
  const sizes = await writeSerializedFiles(dirname(onnxPath), serializeModel(graph, basename(onnxPath), meta, externalData));
  const onnxBytes = sizes[sizes.length - 1];
  return externalData ? { onnxPath, onnxBytes, externalDataPath: `${onnxPath}_data`, externalDataBytes: sizes[0] } : { onnxPath, onnxBytes };
}

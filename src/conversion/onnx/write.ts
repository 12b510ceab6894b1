/**
 * Streams a Graph to disk as `<name>.onnx`, optionally with its large initializers in
 * `<name>.onnx_data` (ONNX external data, the file name Transformers.js fetches when
 * `use_external_data_format` is set). Initializer bytes are produced one tensor at a time.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { basename } from 'node:path';
import type { ExternalPlacement, Graph } from './graph.js';
import { isDeferred, type Segment } from './proto.js';

/** Tensors smaller than this stay inside the .onnx file even when external data is used. */
const INLINE_LIMIT_BYTES = 1024;
/** Offsets in the external data file are aligned so onnxruntime can memory-map them. */
const EXTERNAL_ALIGNMENT = 4096;
/** Protobuf cannot hold a message of 2 GiB or more. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;

export interface WrittenModel {
  onnxPath: string;
  onnxBytes: number;
  externalDataPath?: string;
  externalDataBytes?: number;
}

export interface ModelMeta {
  producer: string;
  version: string;
  docString?: string;
  metadata?: Record<string, string>;
}

export async function writeModel(graph: Graph, onnxPath: string, meta: ModelMeta, externalData: boolean): Promise<WrittenModel> {
  if (!externalData) {
    const proto = graph.toModelProto(meta);
    if (proto.length > PROTOBUF_LIMIT_BYTES) {
      throw new Error(`${basename(onnxPath)} would be ${proto.length} bytes, over protobuf's 2 GiB limit: use external data`);
    }
    const onnxBytes = await writeSegments(onnxPath, proto.finish());
    return { onnxPath, onnxBytes };
  }

  const dataPath = `${onnxPath}_data`;
  const location = basename(dataPath);
  const placement: ExternalPlacement = new Map();
  const dataFile = await open(dataPath, 'w');
  let offset = 0;
  try {
    for (const init of graph.initializers) {
      if (init.byteLength < INLINE_LIMIT_BYTES) continue;
      const aligned = Math.ceil(offset / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
      const bytes = await init.produce();
      checkLength(init.name, bytes, init.byteLength);
      await writeAll(dataFile, bytes, aligned);
      placement.set(init.name, { location, offset: aligned, length: bytes.length });
      offset = aligned + bytes.length;
    }
  } finally {
    await dataFile.close();
  }
  const proto = graph.toModelProto(meta, placement);
  const onnxBytes = await writeSegments(onnxPath, proto.finish());
  return { onnxPath, onnxBytes, externalDataPath: dataPath, externalDataBytes: offset };
}

async function writeSegments(path: string, segments: Segment[]): Promise<number> {
  const file = await open(path, 'w');
  let position = 0;
  try {
    // Small segments are batched into one write; deferred ones are produced and written alone.
    let batch: Uint8Array[] = [];
    let batchBytes = 0;
    const flush = async () => {
      if (!batch.length) return;
      await writeAll(file, Buffer.concat(batch, batchBytes), position);
      position += batchBytes;
      batch = [];
      batchBytes = 0;
    };
    for (const segment of segments) {
      if (isDeferred(segment)) {
        await flush();
        const bytes = await segment.produce();
        checkLength('initializer', bytes, segment.length);
        await writeAll(file, bytes, position);
        position += bytes.length;
      } else {
        batch.push(segment);
        batchBytes += segment.length;
        if (batchBytes > 1 << 22) await flush();
      }
    }
    await flush();
  } finally {
    await file.close();
  }
  return position;
}

async function writeAll(file: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await file.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

function checkLength(name: string, bytes: Uint8Array, expected: number): void {
  if (bytes.length !== expected) throw new Error(`${name}: produced ${bytes.length} bytes, expected ${expected}`);
}

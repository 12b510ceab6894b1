/**
 * A Graph as the bytes of its files: `<name>.onnx`, and with external data `<name>.onnx_data` (the file name
 * Transformers.js fetches when `use_external_data_format` is set). Nothing is written here: each file is a stream of
 * chunks, produced one initializer at a time, that a sink (a local file, an HTTP response, the browser's cache)
 * consumes. Sizes are known before any weight is produced.
 */
import type { ExternalPlacement, Graph, Initializer } from './graph.js';
import { isDeferred, type Segment } from './proto.js';

/** Tensors smaller than this stay inside the .onnx file even when external data is used. */
const INLINE_LIMIT_BYTES = 1024;
/** Offsets in the external data file are aligned so onnxruntime can memory-map them. */
const EXTERNAL_ALIGNMENT = 4096;
/** Protobuf cannot hold a message of 2 GiB or more. */
export const PROTOBUF_LIMIT_BYTES = 2 ** 31 - 1;
/** Small protobuf segments are batched into chunks of about this size. */
const CHUNK_BYTES = 1 << 22;
/** Pieces below this size are copied into a shared chunk rather than passed on alone. */
const SMALL_BYTES = 1 << 16;

export interface SerializedFile {
  /** Path relative to the model folder, e.g. `onnx/model.onnx`. */
  readonly path: string;
  readonly byteLength: number;
  /**
   * The file's bytes in order. Iterate once: weights are produced (read, converted, quantised) on the way. Each
   * chunk is the consumer's to keep (the producer never reuses it).
   */
  chunks(): AsyncGenerator<Uint8Array>;
}

export interface ModelMeta {
  producer: string;
  version: string;
  docString?: string;
  metadata?: Record<string, string>;
}

/** Whether an initializer goes to the external data file (when there is one). */
const isExternal = (init: Initializer) => init.byteLength >= INLINE_LIMIT_BYTES;

/**
 * The initializers in the order they are stored and produced: largest first (stable), so the biggest tensors are
 * converted while memory is emptiest and their scratch memory is long reclaimed when the file is done (a runtime
 * then loads the model into that memory); with external data, the data file's first, then the .onnx file's.
 */
export function productionOrder(graph: Graph, externalData: boolean): Initializer[] {
  const bySize = [...graph.initializers].sort((a, b) => b.byteLength - a.byteLength);
  return externalData ? [...bySize.filter(isExternal), ...bySize.filter((i) => !isExternal(i))] : bySize;
}

/**
 * The files of `graph` saved as `path`: with `externalData`, initializers of 1 KiB or more go to `<path>_data`.
 * The data file (when there is one) comes first: sinks must consume the files in the order returned.
 */
export function serializeModel(graph: Graph, path: string, meta: ModelMeta, externalData: boolean): SerializedFile[] {
  const order = productionOrder(graph, externalData);
  if (!externalData) {
    const proto = graph.toModelProto(meta, undefined, order);
    if (proto.length > PROTOBUF_LIMIT_BYTES) {
      throw new Error(`${baseName(path)} would be ${proto.length} bytes, over protobuf's 2 GiB limit: use external data`);
    }
    return [segmentFile(path, proto.length, proto.finish())];
  }

  const dataPath = `${path}_data`;
  const location = baseName(dataPath);
  const placement: ExternalPlacement = new Map();
  const placed: { offset: number; init: Initializer }[] = [];
  let end = 0;
  for (const init of order) {
    if (!isExternal(init)) continue;
    const offset = Math.ceil(end / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
    placement.set(init.name, { location, offset, length: init.byteLength });
    placed.push({ offset, init });
    end = offset + init.byteLength;
  }
  const data: SerializedFile = {
    path: dataPath,
    byteLength: end,
    async *chunks() {
      let position = 0;
      for (const { offset, init } of placed) {
        if (offset > position) yield new Uint8Array(offset - position);
        const bytes = await init.produce();
        checkLength(init.name, bytes, init.byteLength);
        yield bytes;
        position = offset + bytes.length;
      }
    },
  };
  const proto = graph.toModelProto(meta, placement, order);
  return [data, segmentFile(path, proto.length, proto.finish())];
}

function segmentFile(path: string, byteLength: number, segments: Segment[]): SerializedFile {
  return {
    path,
    byteLength,
    async *chunks() {
      let batch: Uint8Array[] = [];
      let batchBytes = 0;
      function* flush(): Generator<Uint8Array> {
        if (!batch.length) return;
        const joined = new Uint8Array(batchBytes);
        let at = 0;
        for (const part of batch) {
          joined.set(part, at);
          at += part.length;
        }
        batch = [];
        batchBytes = 0;
        yield joined;
      }
      for (const segment of segments) {
        let bytes: Uint8Array;
        if (isDeferred(segment)) {
          bytes = await segment.produce();
          checkLength('initializer', bytes, segment.length);
        } else {
          bytes = segment;
        }
        // Large produced tensors pass on alone (no copy); everything small is gathered into chunks.
        if (bytes.length >= SMALL_BYTES) {
          yield* flush();
          yield bytes;
        } else {
          batch.push(bytes);
          batchBytes += bytes.length;
          if (batchBytes > CHUNK_BYTES) yield* flush();
        }
      }
      yield* flush();
    },
  };
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function checkLength(name: string, bytes: Uint8Array, expected: number): void {
  if (bytes.length !== expected) throw new Error(`${name}: produced ${bytes.length} bytes, expected ${expected}`);
}

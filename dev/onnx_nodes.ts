/**
 * Lists the nodes of an ONNX model file by scanning its protobuf: ModelProto.graph (7) → GraphProto.node (1) →
 * NodeProto name (3), op_type (4), domain (7). Initializer bytes are skipped, so keep weights external for speed.
 */
import { readFileSync } from 'node:fs';

export interface OnnxNode {
  name: string;
  op_type: string;
  domain: string;
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start: number,
    readonly end: number,
  ) {
    this.pos = start;
  }

  varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = this.buf[this.pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
  }

  /** Calls `visit(field, start, end)` for every length-delimited field; skips the others. */
  fields(visit: (field: number, start: number, end: number) => void): void {
    while (this.pos < this.end) {
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire === 0) this.varint();
      else if (wire === 1) this.pos += 8;
      else if (wire === 5) this.pos += 4;
      else if (wire === 2) {
        const length = this.varint();
        visit(field, this.pos, this.pos + length);
        this.pos += length;
      } else throw new Error(`unsupported protobuf wire type ${wire} at byte ${this.pos}`);
    }
  }
}

const text = new TextDecoder();

export function readOnnxNodes(path: string): OnnxNode[] {
  const buf = readFileSync(path);
  const nodes: OnnxNode[] = [];
  new Reader(buf, 0, buf.length).fields((field, start, end) => {
    if (field !== 7) return;
    new Reader(buf, start, end).fields((graphField, nodeStart, nodeEnd) => {
      if (graphField !== 1) return;
      const node: OnnxNode = { name: '', op_type: '', domain: '' };
      new Reader(buf, nodeStart, nodeEnd).fields((f, s, e) => {
        if (f === 3) node.name = text.decode(buf.subarray(s, e));
        else if (f === 4) node.op_type = text.decode(buf.subarray(s, e));
        else if (f === 7) node.domain = text.decode(buf.subarray(s, e));
      });
      nodes.push(node);
    });
  });
  return nodes;
}

/** Node count per op type (`domain:Op` outside the default domain), most frequent first. */
export function countOpTypes(nodes: readonly OnnxNode[]): [string, number][] {
  const counts = new Map<string, number>();
  for (const n of nodes) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.op_type}` : n.op_type;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

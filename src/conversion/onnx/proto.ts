/**
 * A minimal protocol-buffers writer for the ONNX schema.
 *
 * Messages are assembled bottom-up as a list of segments. Large payloads (tensor bytes) are
 * "deferred": only their length is known while the message is built, and their bytes are produced
 * when the message is streamed to disk. This lets a 1.5 GB model be serialised without ever
 * holding its weights in memory at once.
 */

export interface DeferredBytes {
  readonly length: number;
  produce(): Promise<Uint8Array>;
}

export type Segment = Uint8Array | DeferredBytes;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const textEncoder = new TextEncoder();

function varintBytes(value: number | bigint): Uint8Array {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Uint8Array.from(out);
}

function smallVarint(value: number, out: number[]): void {
  // Fast path for non-negative integers below 2^53.
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

export class ProtoMessage {
  private readonly segments: Segment[] = [];
  private pending: number[] = [];
  private byteLength = 0;

  get length(): number {
    return this.byteLength + this.pending.length;
  }

  private flush(): void {
    if (this.pending.length) {
      const bytes = Uint8Array.from(this.pending);
      this.segments.push(bytes);
      this.byteLength += bytes.length;
      this.pending = [];
    }
  }

  private tag(field: number, wire: number): void {
    smallVarint(field * 8 + wire, this.pending);
  }

  private raw(bytes: Uint8Array): void {
    if (bytes.length < 64) {
      for (const b of bytes) this.pending.push(b);
    } else {
      this.flush();
      this.segments.push(bytes);
      this.byteLength += bytes.length;
    }
  }

  /** int32/int64/enum/bool (negative numbers are encoded as 10-byte two's complement like protobuf). */
  varint(field: number, value: number | bigint | boolean): this {
    this.tag(field, WIRE_VARINT);
    const v = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) smallVarint(v, this.pending);
    else this.raw(varintBytes(v));
    return this;
  }

  float32(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.raw(b);
    return this;
  }

  double(field: number, value: number): this {
    this.tag(field, WIRE_FIXED64);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, value, true);
    this.raw(b);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    smallVarint(value.length, this.pending);
    this.raw(value);
    return this;
  }

  /** A length-delimited field whose bytes are produced only when the message is written out. */
  deferred(field: number, value: DeferredBytes): this {
    this.tag(field, WIRE_LENGTH_DELIMITED);
    smallVarint(value.length, this.pending);
    this.flush();
    this.segments.push(value);
    this.byteLength += value.length;
    return this;
  }

  message(field: number, value: ProtoMessage): this {
    value.flush();
    this.tag(field, WIRE_LENGTH_DELIMITED);
    smallVarint(value.length, this.pending);
    this.flush();
    for (const s of value.segments) this.segments.push(s);
    this.byteLength += value.length;
    return this;
  }

  packedVarints(field: number, values: readonly (number | bigint)[]): this {
    const body: number[] = [];
    for (const v of values) {
      if (typeof v === 'number' && v >= 0 && Number.isSafeInteger(v)) smallVarint(v, body);
      else for (const b of varintBytes(v)) body.push(b);
    }
    return this.bytes(field, Uint8Array.from(body));
  }

  packedFloats(field: number, values: readonly number[]): this {
    const b = new Uint8Array(values.length * 4);
    const view = new DataView(b.buffer);
    values.forEach((v, i) => view.setFloat32(i * 4, v, true));
    return this.bytes(field, b);
  }

  /** The segments of the finished message, in order. */
  finish(): Segment[] {
    this.flush();
    return this.segments;
  }
}

export function isDeferred(s: Segment): s is DeferredBytes {
  return !(s instanceof Uint8Array);
}

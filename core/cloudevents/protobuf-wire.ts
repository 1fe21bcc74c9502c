/**
 * Protocol Buffers wire format primitives (protobuf.dev/programming-guides/encoding), just
 * what the CloudEvents protobuf codec and the broker's gRPC messages need. The reader never
 * trusts the input: every varint is at most 10 bytes, every length is checked against the
 * bytes left, group nesting is bounded, and every failure is a CodecError `malformed` —
 * never an exception of another kind, a hang or an out-of-bounds read.
 */
import { isUtf8 } from 'node:buffer';
import { CodecError, CodecErrorCode } from './types.js';

export const WireType = {
  Varint: 0,
  Fixed64: 1,
  Len: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

/** Field numbers are 29-bit (1 … 2^29 − 1). */
const MAX_FIELD_NUMBER = 0x1fffffff;
/** Deeper group nesting than this in an unknown field is refused rather than walked. */
const MAX_GROUP_DEPTH = 64;
const TWO_POW_32 = 0x1_0000_0000;
/** Up to this many bytes a JS ASCII check is cheaper than isUtf8 (simdutf) plus a copy. */
const SHORT_STRING = 32;

function fail(why: string): never {
  throw new CodecError(CodecErrorCode.Malformed, `protobuf body is malformed: ${why}`);
}

export class WireReader {
  pos: number;
  /** Low and high 32 bits (unsigned) of the last varint read by `readVarint`. */
  lo = 0;
  hi = 0;
  private readonly buf: Buffer;

  /** Where the message being read ends; narrowed while an embedded message is read. */
  end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.byteLength) {
    this.buf = Buffer.isBuffer(bytes)
      ? bytes
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  /** Reads a varint of up to 64 bits into `lo`/`hi`. */
  readVarint(): void {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let lo = 0;
    let hi: number;
    let b: number;
    for (let shift = 0; shift < 28; shift += 7) {
      if (pos >= end) fail('truncated varint');
      b = buf[pos++] as number;
      lo |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        this.lo = lo >>> 0;
        this.hi = 0;
        return;
      }
    }
    if (pos >= end) fail('truncated varint');
    b = buf[pos++] as number; // bits 28–34 straddle the halves
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >>> 4;
    if (b >= 0x80) {
      for (let shift = 3; ; shift += 7) {
        if (pos >= end) fail('truncated varint');
        b = buf[pos++] as number;
        if (shift === 31) {
          // The tenth byte holds bit 63 only.
          if (b > 1) fail('varint longer than 64 bits');
          hi |= b << 31;
          break;
        }
        hi |= (b & 0x7f) << shift;
        if (b < 0x80) break;
      }
    }
    this.pos = pos;
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
  }

  /** A field key: `(fieldNumber << 3) | wireType`, or 0 at the end of the message. */
  readTag(): number {
    if (this.pos >= this.end) return 0;
    const first = this.buf[this.pos] as number;
    let tag: number;
    if (first < 0x80) {
      this.pos++;
      tag = first;
    } else {
      this.readVarint();
      if (this.hi !== 0) fail('field key out of range');
      tag = this.lo;
    }
    const field = tag >>> 3;
    if (field === 0 || field > MAX_FIELD_NUMBER) fail(`invalid field number ${field}`);
    return tag;
  }

  /** A length prefix; refuses lengths past the end of the enclosing message. */
  readLength(): number {
    this.readVarint();
    const length = this.lo;
    if (this.hi !== 0 || length > this.end - this.pos) fail('length exceeds the bytes left');
    return length;
  }

  /** int32 (and enums): the low 32 bits of the varint, signed, as protobuf specifies. */
  readInt32(): number {
    this.readVarint();
    return this.lo | 0;
  }

  /** int64 as a number; only values within ±2^53 are meaningful to callers. */
  readInt64(): number {
    this.readVarint();
    const hi = this.hi | 0;
    return hi * TWO_POW_32 + this.lo;
  }

  readBool(): boolean {
    this.readVarint();
    return this.lo !== 0 || this.hi !== 0;
  }

  /** Narrows `end` to an embedded message of the length just read; returns the outer end. */
  enterMessage(): number {
    const length = this.readLength();
    const outer = this.end;
    this.end = this.pos + length;
    return outer;
  }

  /** Restores the outer end once an embedded message is fully read. */
  leaveMessage(outer: number): void {
    this.end = outer;
  }

  /** The bytes of a length-delimited field, sharing memory with the input. */
  readBytes(): Uint8Array {
    const length = this.readLength();
    const start = this.pos;
    this.pos += length;
    return this.buf.subarray(start, start + length);
  }

  /**
   * A string field: proto3 requires valid UTF-8, and so does the CloudEvents type system.
   * `what` names the field in the error (a constant: no string is built on success).
   */
  readString(what: string): string {
    const length = this.readLength();
    const start = this.pos;
    const end = start + length;
    this.pos = end;
    const buf = this.buf;
    if (length <= SHORT_STRING) {
      // Short strings (ids, names, types) are nearly always ASCII: a byte loop beats a call.
      let ascii = true;
      for (let i = start; i < end; i++) {
        if ((buf[i] as number) >= 0x80) {
          ascii = false;
          break;
        }
      }
      if (ascii) return buf.toString('latin1', start, end);
    }
    const bytes = buf.subarray(start, end);
    if (!isUtf8(bytes)) fail(`${what} is not valid UTF-8`);
    return bytes.toString('utf8');
  }

  /** Skips one field whose key was just read (unknown fields are ignored, per protobuf). */
  skipField(tag: number): void {
    const wireType = tag & 7;
    switch (wireType) {
      case WireType.Varint:
        this.readVarint();
        return;
      case WireType.Fixed64:
        this.skipBytes(8);
        return;
      case WireType.Len: {
        const length = this.readLength(); // before reading `pos`: readLength moves it
        this.pos += length;
        return;
      }
      case WireType.Fixed32:
        this.skipBytes(4);
        return;
      case WireType.StartGroup:
        this.skipGroup(tag >>> 3);
        return;
      default:
        fail(`unexpected wire type ${wireType}`);
    }
  }

  /** Checks a known field arrived with the wire type its declaration implies. */
  expectWireType(tag: number, wireType: WireType, what: string): void {
    if ((tag & 7) !== wireType) fail(`${what} has wire type ${tag & 7}, expected ${wireType}`);
  }

  private skipBytes(count: number): void {
    if (count > this.end - this.pos) fail('truncated fixed-width field');
    this.pos += count;
  }

  /** Deprecated groups still appear as unknown fields; walked iteratively, depth-bounded. */
  private skipGroup(field: number): void {
    const open = [field];
    while (open.length > 0) {
      const tag = this.readTag();
      if (tag === 0) fail('unterminated group');
      const wireType = tag & 7;
      if (wireType === WireType.EndGroup) {
        if (tag >>> 3 !== open.pop()) fail('mismatched end of group');
      } else if (wireType === WireType.StartGroup) {
        if (open.length >= MAX_GROUP_DEPTH) fail('groups nested too deeply');
        open.push(tag >>> 3);
      } else {
        this.skipField(tag);
      }
    }
  }
}

/** Bytes a varint of `value` (0 … 2^32 − 1) takes. */
export function sizeOfVarint32(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x20_0000) return 3;
  if (value < 0x1000_0000) return 4;
  return 5;
}

/** Bytes a length-delimited field of `length` bytes takes, key (fields 1–15) included. */
export function sizeOfLenField(length: number): number {
  return 1 + sizeOfVarint32(length) + length;
}

/** Writes into a buffer sized in advance (callers compute sizes first: no copying). */
export class WireWriter {
  pos = 0;
  readonly buf: Buffer;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  writeVarint32(value: number): void {
    const buf = this.buf;
    let v = value >>> 0;
    while (v >= 0x80) {
      buf[this.pos++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buf[this.pos++] = v;
  }

  /** A signed 64-bit value within ±2^53 (int64, and int32 which is sign-extended to 64). */
  writeVarint64(value: number): void {
    if (value >= 0 && value < TWO_POW_32) return this.writeVarint32(value);
    let lo = value >>> 0;
    let hi = Math.floor(value / TWO_POW_32) >>> 0; // two's complement for negatives
    const buf = this.buf;
    while (hi !== 0 || lo >= 0x80) {
      buf[this.pos++] = (lo & 0x7f) | 0x80;
      lo = ((lo >>> 7) | (hi << 25)) >>> 0;
      hi >>>= 7;
    }
    buf[this.pos++] = lo;
  }

  writeTag(field: number, wireType: WireType): void {
    this.writeVarint32((field << 3) | wireType);
  }

  /** A string field whose UTF-8 length the caller already knows. */
  writeString(field: number, value: string, byteLength: number): void {
    this.writeTag(field, WireType.Len);
    this.writeVarint32(byteLength);
    this.pos += this.buf.write(value, this.pos, byteLength, 'utf8');
  }

  writeBytes(field: number, value: Uint8Array): void {
    this.writeTag(field, WireType.Len);
    this.writeVarint32(value.byteLength);
    this.buf.set(value, this.pos);
    this.pos += value.byteLength;
  }

  /** The key and length of an embedded message whose bytes follow. */
  writeLenHeader(field: number, length: number): void {
    this.writeTag(field, WireType.Len);
    this.writeVarint32(length);
  }
}

/** Bytes of a varint for a signed 64-bit value within ±2^53 (negatives take 10). */
export function sizeOfVarint64(value: number): number {
  if (value < 0) return 10;
  if (value < TWO_POW_32) return sizeOfVarint32(value);
  let size = 5;
  for (let v = Math.floor(value / 0x8_0000_0000); v > 0; v = Math.floor(v / 128)) size++;
  return size;
}

/**
 * Wire encodings of the broker's own gRPC messages (proto/herald/v1/broker.proto), the
 * open-cluster-management PublishRequest, and the google.rpc error details Herald attaches
 * to a failed call. Built on the codec's protobuf primitives: no generated code at runtime.
 */
import { readEvent } from '../core/cloudevents/protobuf.js';
import {
  WireReader,
  WireType,
  WireWriter,
  sizeOfLenField,
  sizeOfVarint32,
  sizeOfVarint64,
} from '../core/cloudevents/protobuf-wire.js';
import { CodecError, CodecErrorCode, type CloudEvent } from '../core/cloudevents/types.js';
import type { Receipt } from './ingest.js';

/** A FieldViolation of herald.v1 and of google.rpc.BadRequest (same fields, same numbers). */
export interface Violation {
  field: string;
  description: string;
}

/** herald.v1.EventError. */
export interface EventErrorMessage {
  code: number;
  reason: string;
  message: string;
  problemType: string;
  violations: Violation[];
}

/** herald.v1.EventResult: a receipt or an error for the event at `index`. */
export type EventResultMessage =
  { index: number; receipt: Receipt } | { index: number; error: EventErrorMessage };

const EMPTY = Buffer.alloc(0);

function sizeOfString(value: string): number {
  return sizeOfLenField(Buffer.byteLength(value));
}

/** A string field, skipped when empty (proto3 default). */
function writeStringField(w: WireWriter, field: number, value: string): void {
  if (value !== '') w.writeString(field, value, Buffer.byteLength(value));
}

function sizeOfStringField(value: string): number {
  return value === '' ? 0 : sizeOfString(value);
}

function sizeOfReceipt(r: Receipt): number {
  return (
    sizeOfStringField(r.id) +
    sizeOfStringField(r.source) +
    sizeOfStringField(r.type) +
    (r.sequence === 0 ? 0 : 1 + sizeOfVarint64(r.sequence)) +
    (r.duplicate ? 2 : 0) +
    (r.deprecated === true ? 2 : 0)
  );
}

function writeReceipt(w: WireWriter, r: Receipt): void {
  writeStringField(w, 1, r.id);
  writeStringField(w, 2, r.source);
  writeStringField(w, 3, r.type);
  if (r.sequence !== 0) {
    w.writeTag(4, WireType.Varint);
    w.writeVarint64(r.sequence);
  }
  if (r.duplicate) {
    w.writeTag(5, WireType.Varint);
    w.writeVarint32(1);
  }
  if (r.deprecated === true) {
    w.writeTag(6, WireType.Varint);
    w.writeVarint32(1);
  }
}

/** herald.v1.PublishReceipt. */
export function encodeReceipt(receipt: Receipt): Buffer {
  const w = new WireWriter(sizeOfReceipt(receipt));
  writeReceipt(w, receipt);
  return w.buf;
}

function sizeOfViolation(v: Violation): number {
  return sizeOfStringField(v.field) + sizeOfStringField(v.description);
}

function sizeOfEventError(e: EventErrorMessage): number {
  let size = (e.code === 0 ? 0 : 1 + sizeOfVarint64(e.code)) + sizeOfStringField(e.reason);
  size += sizeOfStringField(e.message) + sizeOfStringField(e.problemType);
  for (const v of e.violations) size += sizeOfLenField(sizeOfViolation(v));
  return size;
}

function writeEventError(w: WireWriter, e: EventErrorMessage): void {
  if (e.code !== 0) {
    w.writeTag(1, WireType.Varint);
    w.writeVarint64(e.code);
  }
  writeStringField(w, 2, e.reason);
  writeStringField(w, 3, e.message);
  writeStringField(w, 4, e.problemType);
  for (const v of e.violations) {
    w.writeLenHeader(5, sizeOfViolation(v));
    writeStringField(w, 1, v.field);
    writeStringField(w, 2, v.description);
  }
}

/** herald.v1.PublishBatchResponse: results in order, and how many carry an error. */
export function encodeBatchResponse(results: readonly EventResultMessage[]): Buffer {
  const sizes = new Array<number>(results.length);
  let size = 0;
  let failed = 0;
  results.forEach((result, i) => {
    const inner =
      'receipt' in result ? sizeOfReceipt(result.receipt) : sizeOfEventError(result.error);
    const entry =
      (result.index === 0 ? 0 : 1 + sizeOfVarint32(result.index)) + sizeOfLenField(inner);
    sizes[i] = entry;
    size += sizeOfLenField(entry);
    if (!('receipt' in result)) failed++;
  });
  if (failed !== 0) size += 1 + sizeOfVarint32(failed);
  const w = new WireWriter(size);
  results.forEach((result, i) => {
    w.writeLenHeader(1, sizes[i] as number);
    if (result.index !== 0) {
      w.writeTag(1, WireType.Varint);
      w.writeVarint32(result.index);
    }
    if ('receipt' in result) {
      w.writeLenHeader(2, sizeOfReceipt(result.receipt));
      writeReceipt(w, result.receipt);
    } else {
      w.writeLenHeader(3, sizeOfEventError(result.error));
      writeEventError(w, result.error);
    }
  });
  if (failed !== 0) {
    w.writeTag(2, WireType.Varint);
    w.writeVarint32(failed);
  }
  return w.buf;
}

/** google.protobuf.Empty. */
export function encodeEmpty(): Buffer {
  return EMPTY;
}

/**
 * The CloudEvent of an io.cloudevents.v1.PublishRequest (event = 1). Extension keys may
 * carry open-cluster-management's `ce-` prefix (see ProtobufDecodeOptions).
 */
export function decodePublishRequest(bytes: Uint8Array): CloudEvent {
  const r = new WireReader(bytes);
  let event: CloudEvent | undefined;
  for (let tag = r.readTag(); tag !== 0; tag = r.readTag()) {
    if (tag >>> 3 === 1) {
      r.expectWireType(tag, WireType.Len, 'PublishRequest.event');
      const outer = r.enterMessage();
      event = readEvent(r, '', 'ce-');
      r.leaveMessage(outer);
    } else {
      r.skipField(tag);
    }
  }
  if (event === undefined) {
    throw new CodecError(CodecErrorCode.Malformed, 'the PublishRequest carries no event');
  }
  return event;
}

// google.rpc error details (googleapis google/rpc/status.proto, error_details.proto).

const TYPE_PREFIX = 'type.googleapis.com/google.rpc.';

/** Builds small messages by concatenation: error paths only, where clarity beats speed. */
function lenField(field: number, payload: Uint8Array): Buffer {
  const w = new WireWriter(1 + sizeOfVarint32(payload.byteLength));
  w.writeLenHeader(field, payload.byteLength);
  return Buffer.concat([w.buf, payload]);
}

function stringField(field: number, value: string): Buffer {
  return value === '' ? EMPTY : lenField(field, Buffer.from(value, 'utf8'));
}

function varintField(field: number, value: number): Buffer {
  if (value === 0) return EMPTY;
  const w = new WireWriter(1 + sizeOfVarint64(value));
  w.writeTag(field, WireType.Varint);
  w.writeVarint64(value);
  return w.buf;
}

function anyOf(typeName: string, value: Buffer): Buffer {
  return Buffer.concat([stringField(1, TYPE_PREFIX + typeName), lenField(2, value)]);
}

export interface StatusDetails {
  code: number;
  message: string;
  /** google.rpc.ErrorInfo: reason (UPPER_SNAKE_CASE), domain, metadata. */
  errorInfo: { reason: string; domain: string; metadata: Record<string, string> };
  /** google.rpc.BadRequest field violations; none → no BadRequest detail. */
  violations: Violation[];
  /** google.rpc.RetryInfo delay; undefined → no RetryInfo detail. */
  retryDelaySeconds: number | undefined;
}

/** google.rpc.Status with its details, for the `grpc-status-details-bin` trailer. */
export function encodeStatusDetails(d: StatusDetails): Buffer {
  const metadata = Object.entries(d.errorInfo.metadata).map(([key, value]) =>
    lenField(3, Buffer.concat([stringField(1, key), stringField(2, value)])),
  );
  const errorInfo = Buffer.concat([
    stringField(1, d.errorInfo.reason),
    stringField(2, d.errorInfo.domain),
    ...metadata,
  ]);
  const details = [lenField(3, anyOf('ErrorInfo', errorInfo))];
  if (d.violations.length > 0) {
    const badRequest = Buffer.concat(
      d.violations.map((v) =>
        lenField(1, Buffer.concat([stringField(1, v.field), stringField(2, v.description)])),
      ),
    );
    details.push(lenField(3, anyOf('BadRequest', badRequest)));
  }
  if (d.retryDelaySeconds !== undefined) {
    const retryInfo = lenField(1, varintField(1, d.retryDelaySeconds));
    details.push(lenField(3, anyOf('RetryInfo', retryInfo)));
  }
  return Buffer.concat([varintField(1, d.code), stringField(2, d.message), ...details]);
}

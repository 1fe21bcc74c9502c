/**
 * Encodes Herald CloudEvents in the CloudEvents Protobuf format. Sizes are computed first,
 * so each message is written once into a buffer of exactly its size.
 *
 * Attribute types: `time` becomes a ce_timestamp when the string converts exactly (else a
 * ce_string: a leap second or sub-nanosecond digits), `dataschema` a ce_uri, other strings
 * ce_string, integers ce_integer, booleans ce_boolean. JSON data without a
 * `datacontenttype` gets `application/json`, so a decoder reads it back as JSON.
 */
import { createAttributeError } from './attributes.js';
import { parseTimestamp } from './protobuf-timestamp.js';
import {
  WireType,
  WireWriter,
  sizeOfLenField,
  sizeOfVarint32,
  sizeOfVarint64,
} from './protobuf-wire.js';
import { CodecError, CodecErrorCode, MediaType, type CloudEvent } from './types.js';
import { isInt32 } from './value-formats.js';

// Field numbers as in protobuf.ts (repeated here: that module re-exports this one).
const F_ID = 1;
const F_SOURCE = 2;
const F_SPEC_VERSION = 3;
const F_TYPE = 4;
const F_ATTRIBUTES = 5;
const F_BINARY_DATA = 6;
const F_TEXT_DATA = 7;
const F_PROTO_DATA = 8;
const A_BOOLEAN = 1;
const A_INTEGER = 2;
const A_STRING = 3;
const A_URI = 5;
const A_TIMESTAMP = 7;
const BATCH_EVENTS = 1;

interface AttributePlan {
  name: string;
  nameLength: number;
  field: number;
  value: AttributeValuePlan;
  /** Bytes of the CloudEventAttributeValue message. */
  valueSize: number;
  /** Bytes of the map entry message. */
  entrySize: number;
}

type AttributeValuePlan =
  | { kind: 'bool'; value: boolean }
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string; length: number }
  | { kind: 'timestamp'; seconds: number; nanos: number; size: number };

interface EventPlan {
  strings: { field: number; value: string; length: number }[];
  attributes: AttributePlan[];
  data:
    | { field: typeof F_TEXT_DATA; value: string; length: number }
    | { field: typeof F_BINARY_DATA; value: Uint8Array }
    | { field: typeof F_PROTO_DATA; value: Uint8Array; typeUrl: string; typeUrlLength: number }
    | undefined;
  size: number;
}

function planValue(name: string, value: unknown): [number, AttributeValuePlan, number] {
  switch (typeof value) {
    case 'boolean':
      return [A_BOOLEAN, { kind: 'bool', value }, 2];
    case 'number':
      if (!isInt32(value)) {
        throw createAttributeError(
          CodecErrorCode.InvalidAttribute,
          '',
          name,
          'is not a 32-bit signed integer',
        );
      }
      return [A_INTEGER, { kind: 'int', value }, 1 + sizeOfVarint64(value)];
    case 'string': {
      if (name === 'time') {
        const ts = parseTimestamp(value);
        if (ts !== undefined) {
          const size =
            (ts.seconds === 0 ? 0 : 1 + sizeOfVarint64(ts.seconds)) +
            (ts.nanos === 0 ? 0 : 1 + sizeOfVarint32(ts.nanos));
          return [A_TIMESTAMP, { kind: 'timestamp', ...ts, size }, sizeOfLenField(size)];
        }
      }
      const length = Buffer.byteLength(value);
      const field = name === 'dataschema' ? A_URI : A_STRING;
      return [field, { kind: 'string', value, length }, sizeOfLenField(length)];
    }
    default:
      throw createAttributeError(
        CodecErrorCode.InvalidAttribute,
        '',
        name,
        'must be a string, a boolean or an integer',
      );
  }
}

function planAttribute(name: string, value: unknown): AttributePlan {
  const nameLength = Buffer.byteLength(name);
  const [field, plan, valueSize] = planValue(name, value);
  const entrySize = sizeOfLenField(nameLength) + sizeOfLenField(valueSize);
  return { name, nameLength, field, value: plan, valueSize, entrySize };
}

function planEvent(event: CloudEvent): EventPlan {
  const plan: EventPlan = { strings: [], attributes: [], data: undefined, size: 0 };
  const a = event.attributes;
  for (const [field, name] of [
    [F_ID, 'id'],
    [F_SOURCE, 'source'],
    [F_SPEC_VERSION, 'specversion'],
    [F_TYPE, 'type'],
  ] as const) {
    const value = a[name];
    if (value === undefined || value === '') continue;
    if (typeof value !== 'string') {
      throw createAttributeError(CodecErrorCode.InvalidAttribute, '', name, 'must be a string');
    }
    const length = Buffer.byteLength(value);
    plan.strings.push({ field, value, length });
    plan.size += sizeOfLenField(length);
  }
  for (const name of Object.keys(a)) {
    if (name === 'id' || name === 'source' || name === 'specversion' || name === 'type') continue;
    if (a[name] === undefined) continue;
    plan.attributes.push(planAttribute(name, a[name]));
  }
  const data = event.data;
  if (data?.kind === 'json' && a.datacontenttype === undefined) {
    plan.attributes.push(planAttribute('datacontenttype', MediaType.Json));
  }
  for (const attribute of plan.attributes) plan.size += sizeOfLenField(attribute.entrySize);
  if (data === undefined) return plan;
  if (data.kind === 'binary') {
    if (data.typeUrl !== undefined) {
      const typeUrlLength = Buffer.byteLength(data.typeUrl);
      const anySize = sizeOfLenField(typeUrlLength) + sizeOfLenField(data.value.byteLength);
      plan.data = { field: F_PROTO_DATA, value: data.value, typeUrl: data.typeUrl, typeUrlLength };
      plan.size += sizeOfLenField(anySize);
    } else {
      plan.data = { field: F_BINARY_DATA, value: data.value };
      plan.size += sizeOfLenField(data.value.byteLength);
    }
    return plan;
  }
  const text = data.kind === 'json' ? (data.text ?? JSON.stringify(data.value)) : data.value;
  if (text === undefined) {
    throw new CodecError(CodecErrorCode.Malformed, 'data is not a JSON value', {
      attribute: 'data',
    });
  }
  const length = Buffer.byteLength(text);
  plan.data = { field: F_TEXT_DATA, value: text, length };
  plan.size += sizeOfLenField(length);
  return plan;
}

function writeAttributeValue(w: WireWriter, field: number, plan: AttributeValuePlan): void {
  switch (plan.kind) {
    case 'bool':
      w.writeTag(field, WireType.Varint);
      w.writeVarint32(plan.value ? 1 : 0);
      return;
    case 'int':
      w.writeTag(field, WireType.Varint);
      w.writeVarint64(plan.value);
      return;
    case 'string':
      w.writeString(field, plan.value, plan.length);
      return;
    case 'timestamp':
      w.writeLenHeader(field, plan.size);
      if (plan.seconds !== 0) {
        w.writeTag(1, WireType.Varint);
        w.writeVarint64(plan.seconds);
      }
      if (plan.nanos !== 0) {
        w.writeTag(2, WireType.Varint);
        w.writeVarint32(plan.nanos);
      }
  }
}

function writeEvent(w: WireWriter, plan: EventPlan): void {
  for (const s of plan.strings) w.writeString(s.field, s.value, s.length);
  for (const attribute of plan.attributes) {
    w.writeLenHeader(F_ATTRIBUTES, attribute.entrySize);
    w.writeString(1, attribute.name, attribute.nameLength);
    w.writeLenHeader(2, attribute.valueSize);
    writeAttributeValue(w, attribute.field, attribute.value);
  }
  const data = plan.data;
  if (data === undefined) return;
  switch (data.field) {
    case F_TEXT_DATA:
      w.writeString(F_TEXT_DATA, data.value, data.length);
      return;
    case F_BINARY_DATA:
      w.writeBytes(F_BINARY_DATA, data.value);
      return;
    case F_PROTO_DATA:
      w.writeLenHeader(
        F_PROTO_DATA,
        sizeOfLenField(data.typeUrlLength) + sizeOfLenField(data.value.byteLength),
      );
      w.writeString(1, data.typeUrl, data.typeUrlLength);
      w.writeBytes(2, data.value);
  }
}

/** One event as an io.cloudevents.v1.CloudEvent message. */
export function encodeProtobuf(event: CloudEvent): Buffer {
  const plan = planEvent(event);
  const w = new WireWriter(plan.size);
  writeEvent(w, plan);
  return w.buf;
}

/** Events as an io.cloudevents.v1.CloudEventBatch message. */
export function encodeProtobufBatch(events: readonly CloudEvent[]): Buffer {
  const plans = events.map(planEvent);
  let size = 0;
  for (const plan of plans) size += sizeOfLenField(plan.size);
  const w = new WireWriter(size);
  for (const plan of plans) {
    w.writeLenHeader(BATCH_EVENTS, plan.size);
    writeEvent(w, plan);
  }
  return w.buf;
}

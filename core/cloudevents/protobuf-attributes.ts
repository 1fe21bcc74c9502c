/**
 * The `attributes` map of a protobuf CloudEvent: entries are read off the wire into a flat
 * buffer, then, once the whole event is read (so specversion is judged first, whatever the
 * field order), converted to the type system's canonical in-memory form and checked by the
 * same rules as every other format.
 */
import {
  checkAttributeName,
  checkAttributeValue,
  createAttributeError,
  isCoreAttributeName,
} from './attributes.js';
import { formatTimestamp } from './protobuf-timestamp.js';
import { WireType, type WireReader } from './protobuf-wire.js';
import { CodecErrorCode, type AttributeValue } from './types.js';
import { isUriReference } from './value-formats.js';

/** Field numbers of CloudEvent.CloudEventAttributeValue (its `attr` oneof). */
export const AttributeValueField = {
  Boolean: 1,
  Integer: 2,
  String: 3,
  Bytes: 4,
  Uri: 5,
  UriRef: 6,
  Timestamp: 7,
} as const;
export type AttributeValueField = (typeof AttributeValueField)[keyof typeof AttributeValueField];

/** An attribute value as it came off the wire (or 0: none), before its name is checked. */
type RawValue = boolean | number | string | Uint8Array;

/**
 * Attribute map entries are buffered flat — key, value field, value, nanos — and checked
 * once the whole event is read, so specversion is judged first whatever the field order.
 */
const ENTRY_WIDTH = 4;

// The value readAttributeValue read last. Decoding is synchronous, so one slot serves all.
let lastValue: RawValue = '';
let lastNanos = 0;

/**
 * Converts, checks and assigns the buffered entries. A repeated key: the last one wins, as
 * protobuf maps do. With `keyPrefix`, two keys naming one attribute (`ce-time` and `time`)
 * are ambiguous and refused.
 */
export function readAttributeEntries(
  attributes: Record<string, AttributeValue>,
  entries: unknown[],
  path: string,
  keyPrefix: string | undefined,
): void {
  const keys = keyPrefix === undefined ? undefined : new Map<string, string>();
  for (let i = 0; i < entries.length; i += ENTRY_WIDTH) {
    const key = entries[i] as string;
    let name = key;
    if (keys !== undefined && key.startsWith(keyPrefix as string)) {
      name = key.slice((keyPrefix as string).length);
    }
    const value = readMapAttribute(
      name,
      entries[i + 1] as number,
      entries[i + 2] as RawValue,
      entries[i + 3] as number,
      path,
    );
    if (keys !== undefined) {
      if ((keys.get(name) ?? key) !== key) {
        throw createAttributeError(CodecErrorCode.InvalidAttribute, path, name, 'is given twice');
      }
      keys.set(name, key);
    }
    attributes[name] = value;
  }
}

/** A map entry's value, checked; the name is checked before anything is assigned. */
function readMapAttribute(
  name: string,
  field: number,
  raw: RawValue,
  nanos: number,
  path: string,
): AttributeValue {
  switch (name) {
    case 'specversion':
    case 'id':
    case 'source':
    case 'type':
      throw createAttributeError(
        CodecErrorCode.InvalidAttribute,
        path,
        name,
        'must be given in its own CloudEvent field, not in attributes',
      );
  }
  if (!isCoreAttributeName(name)) checkAttributeName(name, path);
  const value = convertAttribute(name, field, raw, nanos, path);
  checkAttributeValue(name, value, path, false);
  return value;
}

/** A typed value in its canonical in-memory form (CloudEvents type system). */
function convertAttribute(
  name: string,
  field: number,
  raw: RawValue,
  nanos: number,
  path: string,
): AttributeValue {
  switch (field) {
    case AttributeValueField.Boolean:
    case AttributeValueField.Integer:
    case AttributeValueField.String:
      return raw as AttributeValue;
    case AttributeValueField.Bytes: {
      const bytes = raw as Uint8Array;
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
    }
    case AttributeValueField.Uri:
    case AttributeValueField.UriRef: {
      const text = raw as string;
      const absolute = field === AttributeValueField.Uri;
      if (!isUriReference(text, absolute)) {
        throw createAttributeError(
          CodecErrorCode.InvalidAttribute,
          path,
          name,
          absolute
            ? 'is a ce_uri but not a URI (RFC 3986)'
            : 'is a ce_uri_ref but not a URI-reference (RFC 3986)',
        );
      }
      return text;
    }
    case AttributeValueField.Timestamp: {
      const text = formatTimestamp(raw as number, nanos);
      if (text === undefined) {
        throw createAttributeError(
          CodecErrorCode.InvalidAttribute,
          path,
          name,
          'is a ce_timestamp outside 0001-01-01 … 9999-12-31 or with invalid nanos',
        );
      }
      return text;
    }
    default:
      throw createAttributeError(CodecErrorCode.InvalidAttribute, path, name, 'has no value');
  }
}

/** A map entry (key = 1, value = 2; either may be missing: proto3 defaults), buffered. */
export function readAttributeEntry(r: WireReader, entries: unknown[]): void {
  let key = '';
  let field = 0;
  let value: RawValue = '';
  let nanos = 0;
  for (let tag = r.readTag(); tag !== 0; tag = r.readTag()) {
    switch (tag >>> 3) {
      case 1:
        r.expectWireType(tag, WireType.Len, 'attribute key');
        key = r.readString('an attribute name');
        break;
      case 2: {
        r.expectWireType(tag, WireType.Len, 'attribute value');
        const outer = r.enterMessage();
        field = readAttributeValue(r);
        r.leaveMessage(outer);
        value = lastValue;
        nanos = lastNanos;
        break;
      }
      default:
        r.skipField(tag);
    }
  }
  entries.push(key, field, value, nanos);
}

/** A CloudEventAttributeValue: its oneof field (0 = none), the value in `lastValue`. */
function readAttributeValue(r: WireReader): number {
  let field = 0;
  for (let tag = r.readTag(); tag !== 0; tag = r.readTag()) {
    switch (tag >>> 3) {
      case AttributeValueField.Boolean:
        r.expectWireType(tag, WireType.Varint, 'ce_boolean');
        lastValue = r.readBool();
        break;
      case AttributeValueField.Integer:
        r.expectWireType(tag, WireType.Varint, 'ce_integer');
        lastValue = r.readInt32();
        break;
      case AttributeValueField.String:
      case AttributeValueField.Uri:
      case AttributeValueField.UriRef:
        r.expectWireType(tag, WireType.Len, 'an attribute value');
        lastValue = r.readString('an attribute value');
        break;
      case AttributeValueField.Bytes:
        r.expectWireType(tag, WireType.Len, 'ce_bytes');
        lastValue = r.readBytes();
        break;
      case AttributeValueField.Timestamp: {
        r.expectWireType(tag, WireType.Len, 'ce_timestamp');
        const outer = r.enterMessage();
        lastValue = readTimestamp(r);
        r.leaveMessage(outer);
        break;
      }
      default:
        r.skipField(tag);
        continue;
    }
    field = tag >>> 3; // a oneof: the last member given wins
  }
  return field;
}

/** google.protobuf.Timestamp (seconds = 1, int64; nanos = 2, int32): seconds, nanos in `lastNanos`. */
function readTimestamp(r: WireReader): number {
  let seconds = 0;
  lastNanos = 0;
  for (let tag = r.readTag(); tag !== 0; tag = r.readTag()) {
    if (tag >>> 3 === 1) {
      r.expectWireType(tag, WireType.Varint, 'Timestamp.seconds');
      seconds = r.readInt64();
    } else if (tag >>> 3 === 2) {
      r.expectWireType(tag, WireType.Varint, 'Timestamp.nanos');
      lastNanos = r.readInt32();
    } else {
      r.skipField(tag);
    }
  }
  return seconds;
}

/**
 * The CloudEvents Protobuf format (application/cloudevents+protobuf) and its batch format
 * (application/cloudevents-batch+protobuf), hand-written on the wire primitives in
 * protobuf-wire.ts — no generated code, no reflection. The messages are those of
 * proto/io/cloudevents/v1/cloudevents.proto; docs/cloudevents-codec.md says how each value
 * maps to Herald's CloudEvent. Attributes meet the same rules as in every other format.
 */
import { checkAttribute, checkRequiredAttributes, checkSpecVersion } from './attributes.js';
import { isJsonEssence, readMediaTypeEssence } from './media-type.js';
import { readAttributeEntries, readAttributeEntry } from './protobuf-attributes.js';
import { WireReader, WireType } from './protobuf-wire.js';
import { decodeUtf8Body } from './structured.js';
import {
  CodecError,
  CodecErrorCode,
  type AttributeValue,
  type CloudEvent,
  type EventData,
} from './types.js';

export { AttributeValueField } from './protobuf-attributes.js';
export { encodeProtobuf, encodeProtobufBatch } from './protobuf-encode.js';

/** Field numbers of io.cloudevents.v1.CloudEvent. */
export const CloudEventField = {
  Id: 1,
  Source: 2,
  SpecVersion: 3,
  Type: 4,
  Attributes: 5,
  BinaryData: 6,
  TextData: 7,
  ProtoData: 8,
} as const;

/** CloudEventBatch.events. */
export const BATCH_EVENTS_FIELD = 1;

export interface ProtobufDecodeOptions {
  /** Prefixes attribute names in errors, e.g. `[3].` for a batch entry. */
  path?: string;
  /**
   * Removed from the start of attribute map keys before they are read: open-cluster-management
   * clients key extensions as `ce-<name>`. A key with `-` is never a valid attribute name,
   * so removing the prefix cannot change the meaning of a valid event.
   */
  attributeKeyPrefix?: string;
}

/** Decodes one event (application/cloudevents+protobuf). */
export function decodeProtobuf(body: Uint8Array, options: ProtobufDecodeOptions = {}): CloudEvent {
  return readEvent(new WireReader(body), options.path ?? '', options.attributeKeyPrefix);
}

/** Decodes a batch (application/cloudevents-batch+protobuf); an empty body is an empty batch. */
export function decodeProtobufBatch(body: Uint8Array): CloudEvent[] {
  return splitProtobufBatch(body).map((entry, i) => decodeProtobuf(entry, { path: `[${i}].` }));
}

/**
 * The encoded events of a batch, undecoded, so a caller can decode and judge each one on
 * its own (the gRPC PublishBatch reports per event). Only the envelope is checked here.
 */
export function splitProtobufBatch(body: Uint8Array): Uint8Array[] {
  const r = new WireReader(body);
  const events: Uint8Array[] = [];
  for (let tag = r.readTag(); tag !== 0; tag = r.readTag()) {
    if (tag >>> 3 === BATCH_EVENTS_FIELD) {
      r.expectWireType(tag, WireType.Len, 'CloudEventBatch.events');
      events.push(r.readBytes());
    } else {
      r.skipField(tag);
    }
  }
  return events;
}

/** Reads a CloudEvent message from `r.pos` to `r.end`. */
export function readEvent(r: WireReader, path: string, keyPrefix?: string): CloudEvent {
  let id = '';
  let source = '';
  let specversion = '';
  let type = '';
  let entries: unknown[] | undefined;
  let dataField = 0;
  let dataBytes: Uint8Array | undefined;
  let dataText = '';
  let typeUrl = '';
  for (let tag = r.readTag(); tag !== 0; tag = r.readTag()) {
    switch (tag >>> 3) {
      case CloudEventField.Id:
        r.expectWireType(tag, WireType.Len, 'id');
        id = r.readString('id');
        break;
      case CloudEventField.Source:
        r.expectWireType(tag, WireType.Len, 'source');
        source = r.readString('source');
        break;
      case CloudEventField.SpecVersion:
        r.expectWireType(tag, WireType.Len, 'spec_version');
        specversion = r.readString('spec_version');
        break;
      case CloudEventField.Type:
        r.expectWireType(tag, WireType.Len, 'type');
        type = r.readString('type');
        break;
      case CloudEventField.Attributes: {
        r.expectWireType(tag, WireType.Len, 'attributes');
        const outer = r.enterMessage();
        readAttributeEntry(r, (entries ??= []));
        r.leaveMessage(outer);
        break;
      }
      case CloudEventField.BinaryData:
        r.expectWireType(tag, WireType.Len, 'binary_data');
        dataField = CloudEventField.BinaryData;
        dataBytes = r.readBytes();
        break;
      case CloudEventField.TextData:
        r.expectWireType(tag, WireType.Len, 'text_data');
        dataField = CloudEventField.TextData;
        dataText = r.readString('text_data');
        break;
      case CloudEventField.ProtoData: {
        r.expectWireType(tag, WireType.Len, 'proto_data');
        dataField = CloudEventField.ProtoData;
        const outer = r.enterMessage();
        [typeUrl, dataBytes] = readAny(r);
        r.leaveMessage(outer);
        break;
      }
      default:
        r.skipField(tag);
    }
  }
  // proto3 cannot tell an empty string from an absent one: both mean absent.
  checkSpecVersion(specversion === '' ? undefined : specversion, path);
  const attributes: Record<string, AttributeValue> = { specversion };
  if (id !== '') setAttribute(attributes, 'id', id, path);
  if (source !== '') setAttribute(attributes, 'source', source, path);
  if (type !== '') setAttribute(attributes, 'type', type, path);
  if (entries !== undefined) readAttributeEntries(attributes, entries, path, keyPrefix);
  checkRequiredAttributes(attributes, path);
  return {
    attributes,
    data: decodeData(attributes, dataField, dataBytes, dataText, typeUrl, path),
  };
}

function setAttribute(
  attributes: Record<string, AttributeValue>,
  name: string,
  value: AttributeValue,
  path: string,
): void {
  checkAttribute(name, value, path); // the name first: no `__proto__` ever reaches the record
  attributes[name] = value;
}

/** google.protobuf.Any: type_url = 1, value = 2. */
function readAny(r: WireReader): [string, Uint8Array] {
  let typeUrl = '';
  let value: Uint8Array = new Uint8Array(0);
  for (let tag = r.readTag(); tag !== 0; tag = r.readTag()) {
    if (tag >>> 3 === 1) {
      r.expectWireType(tag, WireType.Len, 'Any.type_url');
      typeUrl = r.readString('Any.type_url');
    } else if (tag >>> 3 === 2) {
      r.expectWireType(tag, WireType.Len, 'Any.value');
      value = r.readBytes();
    } else {
      r.skipField(tag);
    }
  }
  return [typeUrl, value];
}

function decodeData(
  attributes: Record<string, AttributeValue>,
  field: number,
  bytes: Uint8Array | undefined,
  text: string,
  typeUrl: string,
  path: string,
): EventData | undefined {
  const contentType = attributes.datacontenttype;
  const isJson =
    typeof contentType === 'string' && isJsonEssence(readMediaTypeEssence(contentType));
  switch (field) {
    case CloudEventField.BinaryData: {
      const value = bytes as Uint8Array;
      // Empty means no data, as an empty body does in HTTP binary mode (SDKs set the field
      // even for events without data).
      if (value.byteLength === 0) return undefined;
      if (!isJson) return { kind: 'binary', value };
      // JSON carried as bytes (what the Go SDK and open-cluster-management always send).
      return parseJsonData(decodeUtf8Body(value, `"${path}data"`), path);
    }
    case CloudEventField.TextData:
      if (text === '') return undefined;
      return isJson ? parseJsonData(text, path) : { kind: 'text', value: text };
    case CloudEventField.ProtoData: {
      const value = bytes as Uint8Array;
      return typeUrl === '' ? { kind: 'binary', value } : { kind: 'binary', value, typeUrl };
    }
    default:
      return undefined;
  }
}

function parseJsonData(text: string, path: string): EventData {
  try {
    return { kind: 'json', value: JSON.parse(text), text };
  } catch (cause) {
    throw new CodecError(
      CodecErrorCode.Malformed,
      `"${path}data" is not valid JSON, though datacontenttype says it is`,
      { attribute: `${path}data`, cause },
    );
  }
}

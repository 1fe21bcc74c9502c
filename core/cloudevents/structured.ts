/**
 * JSON event format (application/cloudevents+json) and JSON batch format
 * (application/cloudevents-batch+json). The structured text written here is also Herald's
 * storage format in JetStream, so encode → decode round-trips exactly.
 */
import { assertJsonDepth } from './json-depth.js';
import {
  checkAttribute,
  checkRequiredAttributes,
  checkSpecVersion,
  createAttributeError,
} from './attributes.js';
import { decodeUtf8Json } from './charset.js';
import {
  NOT_PARSED,
  findUniformBatchElements,
  splitBatchElements,
  splitTrailingData,
  tryParseJson,
} from './json-split.js';
import { isJsonEssence, readMediaTypeEssence } from './media-type.js';
import { CodecError, CodecErrorCode, type CloudEvent, type EventData } from './types.js';
import { isBase64 } from './value-formats.js';

// Where protobuf.ts (and the bench) have always found it.
export { decodeUtf8Body } from './charset.js';

/** Parses JSON; a failure is a client error whose message does not echo the body back. */
function parseJsonBody(text: string, what: string): unknown {
  if (text.length === 0) throw new CodecError(CodecErrorCode.Malformed, `${what} is empty`);
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new CodecError(CodecErrorCode.Malformed, `${what} is not valid JSON`, { cause });
  }
}

/**
 * JSON format §2.2: an Integer is written as its integer component only. JSON.parse turns
 * `5.0` and `5e0` into 5, so number-valued attributes are checked against the source text.
 * Only the members of the event objects themselves count (the objects at `depth`: 1 for a
 * single event, 2 for each element of a batch), never numbers inside `data` or another event.
 * Returns one set of offending member names per object at that depth, in source order.
 */
function findNonIntegerMembers(source: string, depth: number): Set<string>[] {
  const objects: Set<string>[] = [];
  let level = 0;
  let current: Set<string> | undefined;
  let name: string | undefined;
  let member: string | undefined;
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < source.length && source.charCodeAt(j) !== 0x22)
        j += source.charCodeAt(j) === 0x5c ? 2 : 1;
      // A string right after ':' is a value; otherwise it is the next member's name.
      if (member === undefined && level === depth) name = source.slice(i + 1, j);
      member = undefined;
      i = j;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      level++;
      member = undefined;
      if (level === depth && c === 0x7b) objects.push((current = new Set()));
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      level--;
    } else if (c === 0x3a /* : */ && level === depth) {
      member = name;
    } else if (c === 0x2c /* , */) {
      member = undefined;
    } else if (member !== undefined && (c === 0x2d || (c >= 0x30 && c <= 0x39))) {
      let j = i;
      while (j < source.length && NUMBER_CHAR.test(source[j] as string)) j++;
      if (/[.eE]/.test(source.slice(i, j))) current?.add(member);
      member = undefined;
      i = j - 1;
    }
  }
  return objects;
}
const NUMBER_CHAR = /[-+0-9.eE]/;

interface DataMember {
  value: unknown;
  text?: string;
}

/**
 * Turns one parsed JSON-format object into a CloudEvent. `path` prefixes attribute names in
 * errors (a batch index); `source` is the JSON text the attributes came from.
 */
export function decodeEventObject(
  object: unknown,
  path: string,
  source: IntegerFormSource,
  trailingData?: DataMember,
): CloudEvent {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) {
    const what = path === '' ? 'body' : `event ${path.slice(0, -1)}`;
    throw new CodecError(CodecErrorCode.Malformed, `${what} must be a JSON object`, {
      attribute: path === '' ? undefined : path.slice(0, -1),
    });
  }
  const members = object as Record<string, unknown>;
  checkSpecVersion(members.specversion ?? undefined, path);
  let data: DataMember | undefined;
  let base64: unknown;
  let hasNumber = false;
  // Members that are all attributes (the usual case) are used as they are; else copied.
  let onlyAttributes = true;
  for (const name of Object.keys(members)) {
    const value = members[name];
    if (name === 'data') {
      data = { value };
      onlyAttributes = false;
    } else if (name === 'data_base64') {
      base64 = value ?? undefined;
      onlyAttributes = false;
    } else if (value !== null) {
      checkAttribute(name, value, path);
      if (typeof value === 'number') hasNumber = true;
    } else {
      onlyAttributes = false; // JSON format §2.2: null means the attribute is absent.
    }
  }
  const attributes = onlyAttributes
    ? (members as Record<string, string | number | boolean>)
    : copyAttributes(members);
  checkRequiredAttributes(attributes, path);
  if (hasNumber) checkIntegerForms(attributes, path, source);
  if (trailingData !== undefined) data = trailingData;
  return { attributes, data: decodeDataMember(attributes, data, base64, path) };
}

function copyAttributes(
  members: Record<string, unknown>,
): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const name of Object.keys(members)) {
    const value = members[name];
    if (name !== 'data' && name !== 'data_base64' && value !== null) {
      attributes[name] = value as string | number | boolean;
    }
  }
  return attributes;
}

/**
 * Where an event's members were written: the JSON text, the depth of the event objects in it
 * and which of them this is. The scan runs only when an attribute is a number, once per text.
 */
export interface IntegerFormSource {
  text: string;
  depth: number;
  index: number;
  scanned?: Set<string>[];
}

function checkIntegerForms(
  attributes: Record<string, unknown>,
  path: string,
  source: IntegerFormSource,
): void {
  source.scanned ??= findNonIntegerMembers(source.text, source.depth);
  const bad = source.scanned[source.index] ?? new Set<string>();
  for (const name of Object.keys(attributes)) {
    if (typeof attributes[name] === 'number' && bad.has(name)) {
      throw createAttributeError(
        CodecErrorCode.InvalidAttribute,
        path,
        name,
        'must be an integer written without a fraction or exponent',
      );
    }
    if (Object.is(attributes[name], -0)) attributes[name] = 0;
  }
}

function decodeDataMember(
  attributes: Record<string, unknown>,
  data: DataMember | undefined,
  base64: unknown,
  path: string,
): EventData | undefined {
  if (base64 !== undefined) {
    if (data !== undefined) {
      throw new CodecError(
        CodecErrorCode.ConflictingData,
        `"${path}data" and "${path}data_base64" are both present: an event has one or neither`,
        { attribute: `${path}data_base64` },
      );
    }
    if (typeof base64 !== 'string' || !isBase64(base64)) {
      throw new CodecError(
        CodecErrorCode.InvalidEncoding,
        `"${path}data_base64" must be a base64 string (RFC 4648, padded)`,
        { attribute: `${path}data_base64` },
      );
    }
    const bytes = Buffer.from(base64, 'base64');
    return { kind: 'binary', value: new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) };
  }
  if (data === undefined) return undefined;
  const contentType = attributes.datacontenttype;
  if (typeof contentType !== 'string' || isJsonEssence(readMediaTypeEssence(contentType))) {
    return data.text === undefined
      ? { kind: 'json', value: data.value }
      : { kind: 'json', value: data.value, text: data.text };
  }
  if (typeof data.value === 'string') return { kind: 'text', value: data.value };
  // Serializers often write `"data": null` for "no data"; only JSON types give null a meaning.
  if (data.value === null) return undefined;
  throw new CodecError(
    CodecErrorCode.Malformed,
    `"${path}data" must be a string, because datacontenttype is not a JSON media type`,
    { attribute: `${path}data` },
  );
}

/** Decodes one event in the JSON format (application/cloudevents+json). */
export function decodeStructured(body: Uint8Array | string): CloudEvent {
  const text = typeof body === 'string' ? body : decodeUtf8Json(body, 'body');
  assertJsonDepth(text, 'the body');
  const split = splitTrailingData(text);
  if (split !== undefined) {
    const data = { value: split.data, text: split.dataText };
    return decodeEventObject(split.head, '', { text: split.headText, depth: 1, index: 0 }, data);
  }
  return decodeEventObject(parseJsonBody(text, 'body'), '', { text, depth: 1, index: 0 });
}

/** Decodes a JSON batch (application/cloudevents-batch+json); `[]` is a valid, empty batch. */
export function decodeBatch(body: Uint8Array | string): CloudEvent[] {
  const text = typeof body === 'string' ? body : decodeUtf8Json(body, 'body');
  const guessed = findUniformBatchElements(text);
  const fast = guessed === undefined ? undefined : decodeBatchElements(guessed);
  if (fast !== undefined) return fast;
  const elements = splitBatchElements(text);
  const events = elements === undefined ? undefined : decodeBatchElements(elements);
  if (events !== undefined) return events;
  // Anything unusual takes the plain path, which says what is wrong.
  assertJsonDepth(text, 'the batch');
  const parsed = parseJsonBody(text, 'body');
  if (!Array.isArray(parsed)) {
    throw new CodecError(CodecErrorCode.Malformed, 'a batch must be a JSON array of events');
  }
  const decoded = new Array<CloudEvent>(parsed.length);
  // Elements before i were objects (or decoding stopped), so the i-th object at depth 2 is event i.
  const source: IntegerFormSource = { text, depth: 2, index: 0 };
  for (let i = 0; i < parsed.length; i++) {
    source.index = i;
    decoded[i] = decodeEventObject(parsed[i], `[${i}].`, source);
  }
  return decoded;
}

/**
 * Decodes batch elements like single events (attributes and data parsed apart, the data's
 * text kept when it is an object or an array, where re-stringifying it would cost). Every
 * element is parsed before any is decoded, so invalid JSON anywhere is reported as such
 * (by the plain path: undefined here) before an invalid attribute is.
 */
function decodeBatchElements(elements: string[]): CloudEvent[] | undefined {
  const parsed = new Array<{ object: unknown; text: string; data?: DataMember }>(elements.length);
  for (let i = 0; i < elements.length; i++) {
    const element = elements[i] as string;
    const split = splitTrailingData(element);
    if (split !== undefined) {
      const first = split.dataText.charCodeAt(0);
      const data: DataMember =
        first === 0x7b || first === 0x5b
          ? { value: split.data, text: split.dataText }
          : { value: split.data };
      parsed[i] = { object: split.head, text: split.headText, data };
    } else {
      const object = tryParseJson(element);
      if (object === NOT_PARSED) return undefined;
      parsed[i] = { object, text: element };
    }
  }
  const events = new Array<CloudEvent>(elements.length);
  for (let i = 0; i < parsed.length; i++) {
    const { object, text, data } = parsed[i] as (typeof parsed)[number];
    events[i] = decodeEventObject(object, `[${i}].`, { text, depth: 1, index: 0 }, data);
  }
  return events;
}

function encodeDataMember(data: EventData): string {
  switch (data.kind) {
    case 'json': {
      const text = data.text ?? JSON.stringify(data.value);
      if (text === undefined) {
        throw new CodecError(CodecErrorCode.Malformed, 'data is not a JSON value', {
          attribute: 'data',
        });
      }
      return `"data":${text}`;
    }
    case 'text':
      return `"data":${JSON.stringify(data.value)}`;
    case 'binary': {
      const v = data.value;
      return `"data_base64":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"`;
    }
  }
}

/**
 * Encodes one event as JSON format text. `data` goes last and JSON data keeps its exact text
 * when it has one, which is what lets `decodeStructured` recover that text cheaply.
 */
export function encodeStructured(event: CloudEvent): string {
  const { attributes, data } = event;
  if (Object.hasOwn(attributes, 'data') || Object.hasOwn(attributes, 'data_base64')) {
    throw new CodecError(
      CodecErrorCode.InvalidAttributeName,
      'attributes must not be named "data" or "data_base64"',
      { attribute: 'data' },
    );
  }
  const head = JSON.stringify(attributes);
  if (data === undefined) return head;
  const member = encodeDataMember(data);
  return head.length === 2 ? `{${member}}` : `${head.slice(0, -1)},${member}}`;
}

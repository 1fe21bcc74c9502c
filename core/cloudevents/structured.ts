/**
 * JSON event format (application/cloudevents+json) and JSON batch format
 * (application/cloudevents-batch+json). The structured text written here is also Herald's
 * storage format in JetStream, so encode → decode round-trips exactly.
 */
import { MAX_JSON_DEPTH, assertJsonDepth, nestsDeeperThan } from './json-depth.js';
import {
  checkAttribute,
  checkRequiredAttributes,
  checkSpecVersion,
  createAttributeError,
} from './attributes.js';
import { decodeUtf8Json } from './charset.js';
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

const NOT_PARSED: unique symbol = Symbol('not parsed');

function tryParseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return NOT_PARSED;
  }
}

function isJsonWhitespace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x0d || code === 0x09;
}

const DATA_KEY = '"data"';

/**
 * text.indexOf('"data"', from), searching for `data"` and checking the quote before it: the
 * engine's search starts from the pattern's first character, and `"` is the commonest one in
 * JSON (twice as slow on a 1 KiB event).
 */
function findDataKey(text: string, from: number): number {
  for (let at = text.indexOf('data"', from + 1); at !== -1; at = text.indexOf('data"', at + 1)) {
    if (text.charCodeAt(at - 1) === 0x22 /* " */) return at - 1;
  }
  return -1;
}

/**
 * When `"data"` is the last member (as Herald writes it, and as most producers do), parses the
 * attributes and the data separately — together one parse of the body — so the exact JSON text
 * of `data` is kept without re-stringifying. Returns undefined when the shape does not fit; the
 * caller then parses the whole body.
 *
 * The first `"data"` followed by `:` is a key (inside a JSON string a quote is escaped), and
 * attributes are scalars, so it is the top-level member. Correctness does not rest on that: if
 * the head (everything before it, closed with `}`) and the tail both parse, the body is valid
 * JSON of exactly that shape.
 */
function splitTrailingData(
  text: string,
):
  { head: Record<string, unknown>; headText: string; data: unknown; dataText: string } | undefined {
  let key = findDataKey(text, 0);
  let start = 0;
  for (; key !== -1; key = findDataKey(text, key + 1)) {
    start = key + DATA_KEY.length;
    while (isJsonWhitespace(text.charCodeAt(start))) start++;
    if (text.charCodeAt(start) === 0x3a /* : */) break; // else a string value, not a key
  }
  if (key <= 0) return undefined;
  start++;
  while (isJsonWhitespace(text.charCodeAt(start))) start++;
  let end = text.length - 1;
  while (end > start && isJsonWhitespace(text.charCodeAt(end))) end--;
  if (text.charCodeAt(end) !== 0x7d /* } */) return undefined;
  let tail = end - 1;
  while (tail > start && isJsonWhitespace(text.charCodeAt(tail))) tail--;
  // An object or array value ends with its own bracket; a scalar never ends with one. A
  // mismatch means data is not the last member: skip without paying for a failed parse.
  const first = text.charCodeAt(start);
  const last = text.charCodeAt(tail);
  const closesContainer = last === 0x7d || last === 0x5d;
  if (first === 0x7b ? last !== 0x7d : first === 0x5b ? last !== 0x5d : closesContainer) {
    return undefined;
  }
  let before = key - 1;
  while (before > 0 && isJsonWhitespace(text.charCodeAt(before))) before--;
  let headText: string;
  const c = text.charCodeAt(before);
  if (c === 0x7b /* { */) headText = text.slice(0, before + 1) + '}';
  else if (c === 0x2c /* , */) headText = text.slice(0, before) + '}';
  else return undefined;
  const head = tryParseJson(headText);
  if (head === NOT_PARSED || typeof head !== 'object' || head === null) return undefined;
  const dataText = text.slice(start, tail + 1);
  const data = tryParseJson(dataText);
  if (data === NOT_PARSED) return undefined;
  return { head: head as Record<string, unknown>, headText, data, dataText };
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
 * The text of each element of a batch whose events all open alike — `{` and the same first
 * member name, as one serializer writes them — found by searching for that opening after each
 * comma instead of scanning every character (the scan costs a third of what parsing the batch
 * does). A guess, and checked: decodeBatchElements parses every element, and a text
 * `[e1,…,en]` in which every eᵢ is a JSON value has no other reading (JSON's grammar is
 * unambiguous), so when all parse the split is the true one; when one does not, or the shape
 * does not fit (undefined here), splitBatchElements decides. Element nesting is checked here,
 * as splitBatchElements' pass does it for the whole batch.
 */
function findUniformBatchElements(text: string): string[] | undefined {
  const n = text.length;
  let from = 0;
  while (from < n && isJsonWhitespace(text.charCodeAt(from))) from++;
  if (text.charCodeAt(from) !== 0x5b /* [ */) return undefined;
  from++;
  while (from < n && isJsonWhitespace(text.charCodeAt(from))) from++;
  if (text.charCodeAt(from) !== 0x7b /* { */ || text.charCodeAt(from + 1) !== 0x22) {
    return undefined;
  }
  const nameEnd = findStringEnd(text, from + 1);
  if (text.charCodeAt(nameEnd + 1) !== 0x3a /* : */) return undefined;
  const opening = text.slice(from, nameEnd + 2); // `{"name":`
  let close = n - 1;
  while (close > from && isJsonWhitespace(text.charCodeAt(close))) close--;
  if (text.charCodeAt(close) !== 0x5d /* ] */) return undefined;
  const elements: string[] = [];
  let search = from + opening.length;
  while (from < close) {
    const next = text.indexOf(opening, search);
    let comma = next - 1;
    if (next !== -1 && next < close) {
      while (isJsonWhitespace(text.charCodeAt(comma))) comma--;
      // Not after a comma: the opening is inside this element (e.g. in its data).
      if (text.charCodeAt(comma) !== 0x2c /* , */) {
        search = next + 1;
        continue;
      }
    } else {
      comma = close; // the last element ends at `]`
    }
    let to = comma;
    while (to > from && isJsonWhitespace(text.charCodeAt(to - 1))) to--;
    const element = text.slice(from, to);
    // An element nested past MAX_JSON_DEPTH - 1 takes the batch past MAX_JSON_DEPTH.
    if (nestsDeeperThan(element, MAX_JSON_DEPTH - 1)) {
      assertJsonDepth(text, 'the batch'); // throws when the guess was right
      return undefined;
    }
    elements.push(element);
    if (comma === close) return elements;
    from = next;
    search = next + opening.length;
  }
  return undefined;
}

/**
 * The text of each element of a batch, found in one pass that also measures the nesting
 * depth (so it replaces assertJsonDepth's scan: a batch of 100 events always has more than
 * MAX_JSON_DEPTH brackets). Undefined when the text is not a plain `[ … ]` (the plain path
 * then reports what is wrong); throws when it nests too deep.
 */
function splitBatchElements(text: string): string[] | undefined {
  const n = text.length;
  let i = 0;
  while (i < n && isJsonWhitespace(text.charCodeAt(i))) i++;
  if (text.charCodeAt(i) !== 0x5b /* [ */) return undefined;
  // Positions of the opening bracket, each top-level comma, and the closing bracket.
  const cuts: number[] = [];
  let end = -1;
  let depth = 0;
  let deepest = 0;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = findStringEnd(text, i);
    } else if (c === 0x7b || c === 0x5b) {
      if (depth === 0) cuts.push(i);
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x7d || c === 0x5d) {
      if (depth === 1 && end === -1) {
        if (c !== 0x5d) return undefined;
        end = i;
        cuts.push(i);
      }
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      cuts.push(i);
    }
  }
  if (deepest > MAX_JSON_DEPTH) assertJsonDepth(text, 'the batch'); // throws
  if (end === -1 || cuts.length < 2 || cuts[cuts.length - 1] !== end) return undefined;
  for (let j = end + 1; j < n; j++) if (!isJsonWhitespace(text.charCodeAt(j))) return undefined;
  const elements: string[] = [];
  for (let k = 0; k + 1 < cuts.length; k++) {
    let from = (cuts[k] as number) + 1;
    let to = cuts[k + 1] as number;
    while (from < to && isJsonWhitespace(text.charCodeAt(from))) from++;
    while (to > from && isJsonWhitespace(text.charCodeAt(to - 1))) to--;
    if (from === to) {
      if (cuts.length === 2) return elements; // `[ ]`
      return undefined; // an empty element: not JSON
    }
    elements.push(text.slice(from, to));
  }
  return elements;
}

/**
 * The index of the quote closing the string opened at `open`, or the text's length when it
 * is not closed: what skipping character by character with `\` taking the next one finds,
 * with the engine's indexOf doing the walking (a third faster on a batch).
 */
function findStringEnd(text: string, open: number): number {
  let close = text.indexOf('"', open + 1);
  while (close !== -1) {
    let backslash = close - 1;
    while (text.charCodeAt(backslash) === 0x5c /* \ */) backslash--;
    if ((close - 1 - backslash) % 2 === 0) return close; // not escaped
    close = text.indexOf('"', close + 1);
  }
  return text.length;
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

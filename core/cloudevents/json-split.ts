/**
 * Finding the parts of JSON-format text without parsing it whole: the trailing `data` member of
 * an event, the elements of a batch. The codec then parses each part once, and JSON data keeps
 * its exact text without being re-stringified (structured.ts).
 */
import { MAX_JSON_DEPTH, assertJsonDepth, nestsDeeperThan } from './json-depth.js';

export const NOT_PARSED: unique symbol = Symbol('not parsed');

/** JSON.parse, or NOT_PARSED when the text is not JSON: a wrong guess falls back, not throws. */
export function tryParseJson(text: string): unknown {
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
export function splitTrailingData(
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
 * The text of each element of a batch whose events all open alike — `{` and the same first
 * member name, as one serializer writes them — found by searching for that opening after each
 * comma instead of scanning every character (the scan costs a third of what parsing the batch
 * does). A guess, and checked: decodeBatchElements (structured.ts) parses every element, and a
 * text `[e1,…,en]` in which every eᵢ is a JSON value has no other reading (JSON's grammar is
 * unambiguous), so when all parse the split is the true one; when one does not, or the shape
 * does not fit (undefined here), splitBatchElements decides. Element nesting is checked here,
 * as splitBatchElements' pass does it for the whole batch.
 */
export function findUniformBatchElements(text: string): string[] | undefined {
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
export function splitBatchElements(text: string): string[] | undefined {
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

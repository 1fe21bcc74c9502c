/**
 * HTTP binary content mode (HTTP binding §3.1): attributes in `ce-*` headers, `datacontenttype`
 * in `Content-Type`, the data as the body.
 */
import { assertJsonDepth } from './json-depth.js';
import { isAscii, isUtf8 } from 'node:buffer';
import {
  checkAttribute,
  checkAttributeValue,
  checkRequiredAttributes,
  checkSpecVersion,
  checkAttributeName,
  createAttributeError,
  isCoreAttributeName,
} from './attributes.js';
import {
  decodeCharsetJson,
  decodeUtf8Json,
  findCharsetDecoder,
  readCharsetLabel,
  type CharsetDecoder,
} from './charset.js';
import {
  isJsonEssence,
  isMediaType,
  readMediaTypeEssence,
  readMediaTypeParameter,
} from './media-type.js';
import { decodeHeaderValue, encodeHeaderValue, isPlainHeaderValue } from './percent-encoding.js';
import {
  CodecError,
  CodecErrorCode,
  MediaType,
  type CloudEvent,
  type EventData,
  type IncomingHeaders,
  type OutgoingHttpMessage,
} from './types.js';

const HEADER_PREFIX = 'ce-';
const CONTENT_TYPE = 'content-type';

/** One value per header: a repeated `ce-` header would make the attribute ambiguous. */
function readSingleHeader(value: string | string[], header: string, name: string): string {
  if (typeof value === 'string') return value;
  if (value.length === 1 && value[0] !== undefined) return value[0];
  throw createAttributeError(
    CodecErrorCode.InvalidAttribute,
    '',
    name,
    `is given more than once (header "${header}")`,
  );
}

/**
 * The attribute a header carries, or undefined. Core names map to constants, which spares
 * slicing (and interning) a new key string for every header on the hot path.
 */
function readAttributeName(header: string): string | undefined {
  switch (header) {
    case 'ce-specversion':
      return 'specversion';
    case 'ce-id':
      return 'id';
    case 'ce-source':
      return 'source';
    case 'ce-type':
      return 'type';
    case 'ce-subject':
      return 'subject';
    case 'ce-time':
      return 'time';
    case 'ce-dataschema':
      return 'dataschema';
    default:
      return header.startsWith(HEADER_PREFIX) ? header.slice(HEADER_PREFIX.length) : undefined;
  }
}

/** True for text whose charset we can read as UTF-8 (US-ASCII is a subset). */
function isUtf8Text(contentType: string, body: Uint8Array): boolean {
  if (contentType.indexOf(';') !== -1) {
    const charset = readMediaTypeParameter(contentType, 'charset')?.toLowerCase();
    if (charset !== undefined && charset !== 'utf-8' && charset !== 'us-ascii') return false;
  }
  return isUtf8(body);
}

function toPlainBytes(body: Uint8Array): Uint8Array {
  return body.constructor === Uint8Array
    ? body
    : new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

function parseJsonData(text: string, essence: string): EventData & { kind: 'json' } {
  assertJsonDepth(text, 'data (the body)', 'data');
  try {
    return { kind: 'json', value: JSON.parse(text), text: text.trim() };
  } catch (cause) {
    throw new CodecError(
      CodecErrorCode.Malformed,
      `data (the body) is not valid JSON, though Content-Type "${essence}" says it is`,
      { attribute: 'data', cause },
    );
  }
}

/**
 * JSON data in another charset is read in it (for the schema check) but kept as the bytes
 * sent, as text in another charset is: stored as UTF-8 JSON it would no longer be what its
 * datacontenttype says. Bytes that read the same as UTF-8 (ASCII in an ASCII-compatible
 * charset, the usual case) stay JSON data.
 */
function decodeCharsetJsonData(
  body: Uint8Array,
  label: string,
  decoder: CharsetDecoder,
  essence: string,
): EventData {
  const text = decodeCharsetJson(body, decoder, label, 'JSON data', 'data');
  const json = parseJsonData(text, essence);
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (isAscii(bytes) && text === bytes.toString('latin1')) return json;
  return { kind: 'binary', value: toPlainBytes(body), json: { value: json.value } };
}

function decodeBody(contentType: string | undefined, body: Uint8Array): EventData | undefined {
  if (body.byteLength === 0) return undefined;
  // No Content-Type: opaque bytes (RFC 9110 §8.3 lets a recipient assume octet-stream).
  if (contentType === undefined) return { kind: 'binary', value: toPlainBytes(body) };
  const essence = readMediaTypeEssence(contentType);
  if (isJsonEssence(essence)) {
    const label = readCharsetLabel(contentType);
    const decoder = label === undefined ? undefined : findCharsetDecoder(label, 'datacontenttype');
    if (label !== undefined && decoder !== undefined) {
      return decodeCharsetJsonData(body, label, decoder, essence);
    }
    return parseJsonData(decodeUtf8Json(body, 'JSON data', 'data'), essence);
  }
  // Text in another charset, or not really UTF-8, is kept as bytes so nothing is lost.
  if (essence.startsWith('text/') && isUtf8Text(contentType, body)) {
    return {
      kind: 'text',
      value: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'),
    };
  }
  return { kind: 'binary', value: toPlainBytes(body) };
}

/** Decodes an HTTP binary-mode message. `headers` as Node gives them (lower-case names). */
export function decodeBinary(headers: IncomingHeaders, body: Uint8Array): CloudEvent {
  // specversion first, so a 0.3 event is told so rather than failing a 1.0 rule.
  const specversion = headers['ce-specversion'];
  if (specversion !== undefined) {
    const raw = readSingleHeader(specversion, 'ce-specversion', 'specversion');
    checkSpecVersion(decodeHeaderValue(raw, 'specversion'), '');
  }
  const attributes: Record<string, string> = {};
  let contentType: string | undefined;
  // Node gives lower-case names, so keys are unique; other sources may mix cases, and then
  // two keys can name the same header.
  let mixedCase = false;
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    const c = key.charCodeAt(0);
    if ((c !== 0x63 && c !== 0x43) || value === undefined) continue; // not 'c' or 'C': not ours
    const header = key.toLowerCase();
    if (header !== key) mixedCase = true;
    const name = readAttributeName(header);
    if (name !== undefined) {
      if (name === 'datacontenttype') {
        throw createAttributeError(
          CodecErrorCode.InvalidAttribute,
          '',
          name,
          'travels in Content-Type in binary mode: a ce-datacontenttype header is not allowed',
        );
      }
      if (mixedCase && Object.hasOwn(attributes, name)) {
        throw createAttributeError(
          CodecErrorCode.InvalidAttribute,
          '',
          name,
          `is given more than once (header "${header}")`,
        );
      }
      // The name first: it goes into messages and becomes a key.
      if (!isCoreAttributeName(name)) checkAttributeName(name, '');
      const raw = readSingleHeader(value, header, name);
      const plain = isPlainHeaderValue(raw);
      const decoded = plain ? raw : decodeHeaderValue(raw, name);
      checkAttributeValue(name, decoded, '', plain);
      attributes[name] = decoded;
    } else if (header === CONTENT_TYPE) {
      if (contentType !== undefined) {
        throw createAttributeError(
          CodecErrorCode.InvalidAttribute,
          '',
          'datacontenttype',
          'is given more than once (header "content-type")',
        );
      }
      contentType = readSingleHeader(value, header, 'datacontenttype');
      checkAttribute('datacontenttype', contentType, '');
    }
  }
  // Found under another spelling (CE-SpecVersion), or missing.
  if (specversion === undefined) checkSpecVersion(attributes.specversion, '');
  checkRequiredAttributes(attributes, '');
  if (contentType !== undefined) attributes.datacontenttype = contentType;
  return { attributes, data: decodeBody(contentType, body) };
}

/** The Content-Type for data without a datacontenttype (JSON format §3.1.2: JSON implied). */
function implyContentType(data: EventData | undefined): string | undefined {
  switch (data?.kind) {
    case 'json':
      return MediaType.Json;
    case 'text':
      return 'text/plain; charset=utf-8';
    default:
      return undefined;
  }
}

function encodeBody(data: EventData | undefined): Uint8Array | string {
  switch (data?.kind) {
    case undefined:
      return '';
    case 'json': {
      const text = data.text ?? JSON.stringify(data.value);
      if (text === undefined) {
        throw new CodecError(CodecErrorCode.Malformed, 'data is not a JSON value', {
          attribute: 'data',
        });
      }
      return text;
    }
    case 'text':
    case 'binary':
      return data.value;
  }
}

/** Encodes an event as an HTTP binary-mode message (what the dispatcher POSTs by default). */
export function encodeBinary(event: CloudEvent): OutgoingHttpMessage {
  const headers: Record<string, string> = {};
  let contentType: string | undefined;
  for (const name of Object.keys(event.attributes)) {
    const value = event.attributes[name];
    if (value === undefined) continue;
    if (name === 'datacontenttype') {
      contentType = String(value);
      continue;
    }
    if (!isCoreAttributeName(name)) checkAttributeName(name, '');
    headers[HEADER_PREFIX + name] =
      typeof value === 'string' ? encodeHeaderValue(value, name) : String(value);
  }
  contentType ??= implyContentType(event.data);
  if (contentType !== undefined) {
    if (!isMediaType(contentType)) {
      throw createAttributeError(
        CodecErrorCode.InvalidAttribute,
        '',
        'datacontenttype',
        'must be a media type (RFC 2046)',
      );
    }
    headers[CONTENT_TYPE] = contentType;
  }
  return { headers, body: encodeBody(event.data) };
}

/**
 * Bytes to JSON text. RFC 8259 makes networked JSON UTF-8, but HTTP lets a sender declare
 * another charset and DESIGN.md §4 has structured mode accept any: a label the WHATWG Encoding
 * Standard names is read with a fatal decoder (a bad byte is an error, never U+FFFD), and UTF-8
 * keeps its own fast path. One byte order mark in the declared charset is ignored (RFC 8259
 * §8.1 lets a parser ignore one); one of another charset is refused, naming both.
 */
import { isAscii, isUtf8 } from 'node:buffer';
import { TextDecoder } from 'node:util';
import { readMediaTypeParameter } from './media-type.js';
import { CodecError, CodecErrorCode } from './types.js';

const BYTE_ORDER_MARK = 0xfeff;

/** Bytes to string, refusing invalid UTF-8 (RFC 8259 §8.1) instead of substituting U+FFFD. */
export function decodeUtf8Body(body: Uint8Array, what: string): string {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  // ASCII (most JSON) is read as latin1: the same string, without a UTF-8 decoder.
  if (isAscii(bytes)) return bytes.toString('latin1');
  if (!isUtf8(bytes)) {
    throw new CodecError(CodecErrorCode.Malformed, `${what} is not valid UTF-8`);
  }
  return bytes.toString('utf8');
}

/**
 * A UTF-8 JSON text: decodeUtf8Body, a leading BOM dropped (it is non-ASCII, so the ASCII
 * path never looks for one), and a UTF-16 BOM named when the bytes are not UTF-8.
 */
export function decodeUtf8Json(body: Uint8Array, what: string, attribute?: string): string {
  const bytes = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (isAscii(bytes)) return bytes.toString('latin1');
  if (!isUtf8(bytes)) {
    const bom = readByteOrderMark(bytes);
    const hint =
      bom === undefined ? '' : ` (it starts with a ${bom} byte order mark: declare that charset)`;
    throw new CodecError(CodecErrorCode.Malformed, `${what} is not valid UTF-8${hint}`, {
      attribute,
    });
  }
  const text = bytes.toString('utf8');
  return text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text;
}

/**
 * The `charset` parameter of a media type unless it is absent or `utf-8` (any case): the
 * label to resolve with findCharsetDecoder. Only for values that passed isMediaType.
 */
export function readCharsetLabel(contentType: string): string | undefined {
  if (contentType.indexOf(';') === -1) return undefined;
  const charset = readMediaTypeParameter(contentType, 'charset');
  return charset === undefined || charset.toLowerCase() === 'utf-8' ? undefined : charset;
}

/** What findCharsetDecoder gives: a fatal TextDecoder, or Herald's windows-1252 one. */
export interface CharsetDecoder {
  /** The WHATWG encoding name (lower case). */
  readonly encoding: string;
  /** Throws on bytes invalid in the encoding. */
  decode(bytes: Uint8Array): string;
}

/**
 * WHATWG index-windows-1252 for 0x80–0x9F; every other byte is its Latin-1 code point. Node
 * since 20.18.3 decodes windows-1252 — the charset of the `iso-8859-1`, `latin1` and
 * `us-ascii` labels — as Latin-1 (nodejs/node#60888, 0x80 read as U+0080, not €).
 */
const WINDOWS_1252_C1 =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';
const C1 = /[\x80-\x9f]/;
/** windows-1252 byte → UTF-16 code unit, for bodies with C1 bytes (a regex replace is 20× slower). */
const WINDOWS_1252 = Uint16Array.from({ length: 256 }, (_, b) =>
  b >= 0x80 && b < 0xa0 ? WINDOWS_1252_C1.charCodeAt(b - 0x80) : b,
);

const windows1252: CharsetDecoder = {
  encoding: 'windows-1252',
  decode(bytes) {
    const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
    if (!C1.test(latin1)) return latin1;
    // UTF-16LE bytes written out, so the host's byte order does not matter.
    const utf16 = Buffer.allocUnsafe(bytes.length * 2);
    for (let i = 0; i < bytes.length; i++) {
      const unit = WINDOWS_1252[bytes[i] as number] as number;
      utf16[2 * i] = unit & 0xff;
      utf16[2 * i + 1] = unit >> 8;
    }
    return utf16.toString('utf16le');
  },
};

/** Decoders by lower-cased label; labels are client input, so the cache is bounded. */
const decoders = new Map<string, CharsetDecoder>();
const MAX_CACHED_DECODERS = 64;

function createDecoder(label: string): CharsetDecoder | undefined {
  let decoder: TextDecoder;
  try {
    // ignoreBOM: the BOM is dropped below, for every charset alike (TextDecoder would drop
    // only UTF-8's and UTF-16's).
    decoder = new TextDecoder(label, { fatal: true, ignoreBOM: true });
  } catch {
    return undefined; // RangeError: not a label, or "replacement" (e.g. iso-2022-kr)
  }
  return decoder.encoding === windows1252.encoding ? windows1252 : decoder;
}

/** Echoes a label only when it is short printable ASCII. */
function describeLabel(label: string): string {
  return /^[\x20-\x7e]{0,40}$/.test(label) ? JSON.stringify(label) : '(unreadable)';
}

/** `charset "latin1" (windows-1252 …)`: the encoding too when the label is an alias. */
function describeCharset(label: string, encoding: string): string {
  const alias = label.trim().toLowerCase() === encoding;
  return `charset ${describeLabel(label)}${alias ? '' : ` (${encoding}, as WHATWG reads it)`}`;
}

/**
 * The fatal decoder for a charset label, or undefined when the label names UTF-8 (`utf8`,
 * `unicode-1-1-utf-8`, …: read with decodeUtf8Json). Labels mean what the WHATWG Encoding
 * Standard says: `us-ascii` and `iso-8859-1` are windows-1252. Unknown → UnsupportedMediaType.
 */
export function findCharsetDecoder(label: string, attribute?: string): CharsetDecoder | undefined {
  const key = label.toLowerCase();
  let decoder = decoders.get(key);
  if (decoder === undefined) {
    decoder = createDecoder(label);
    if (decoder === undefined) {
      throw new CodecError(
        CodecErrorCode.UnsupportedMediaType,
        `${attribute === undefined ? '' : `attribute "${attribute}": `}` +
          `charset ${describeLabel(label)} is not supported: use utf-8, or another charset the ` +
          'WHATWG Encoding Standard names (e.g. iso-8859-1, windows-1251, utf-16le)',
        { attribute },
      );
    }
    if (decoders.size < MAX_CACHED_DECODERS) decoders.set(key, decoder);
  }
  return decoder.encoding === 'utf-8' ? undefined : decoder;
}

const ByteOrderMark = {
  Utf8: 'UTF-8',
  Utf16be: 'UTF-16BE',
  Utf16le: 'UTF-16LE',
} as const;
type ByteOrderMark = (typeof ByteOrderMark)[keyof typeof ByteOrderMark];

function readByteOrderMark(bytes: Uint8Array): ByteOrderMark | undefined {
  const [b0, b1, b2] = bytes;
  if (b0 === 0xef && b1 === 0xbb && b2 === 0xbf) return ByteOrderMark.Utf8;
  if (b0 === 0xfe && b1 === 0xff) return ByteOrderMark.Utf16be;
  if (b0 === 0xff && b1 === 0xfe) return ByteOrderMark.Utf16le;
  return undefined;
}

/** The TextDecoder encoding each BOM belongs to. */
const BOM_ENCODINGS: Record<ByteOrderMark, string> = {
  [ByteOrderMark.Utf8]: 'utf-8',
  [ByteOrderMark.Utf16be]: 'utf-16be',
  [ByteOrderMark.Utf16le]: 'utf-16le',
};

let utf16be: CharsetDecoder | undefined;

/**
 * A JSON text in a charset other than UTF-8, with `decoder` from findCharsetDecoder. The
 * label `utf-16` names no byte order: a BOM decides it (RFC 2781 §4.3), else it is
 * little-endian as WHATWG says. Bytes invalid in the charset are Malformed, as invalid UTF-8 is.
 */
export function decodeCharsetJson(
  body: Uint8Array,
  decoder: CharsetDecoder,
  label: string,
  what: string,
  attribute?: string,
): string {
  let reader = decoder;
  const bom = readByteOrderMark(body);
  if (bom === ByteOrderMark.Utf16be && label.trim().toLowerCase() === 'utf-16') {
    reader = utf16be ??= new TextDecoder('utf-16be', { fatal: true, ignoreBOM: true });
  }
  // A foreign BOM is never the start of a JSON text in the declared charset: say what it is.
  if (bom !== undefined && BOM_ENCODINGS[bom] !== reader.encoding) {
    throw new CodecError(
      CodecErrorCode.Malformed,
      `${what} starts with a ${bom} byte order mark, which does not fit its ` +
        describeCharset(label, reader.encoding),
      { attribute },
    );
  }
  let text: string;
  try {
    text = reader.decode(body);
  } catch {
    throw new CodecError(
      CodecErrorCode.Malformed,
      `${what} is not valid in its ${describeCharset(label, reader.encoding)}`,
      { attribute },
    );
  }
  return text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text;
}

/**
 * Header values in HTTP binary mode (HTTP binding §3.1.3.2). Encoding: space, double-quote,
 * percent and everything outside printable ASCII become UTF-8 `%XX` (upper-case hex), the rest
 * stays. Decoding: first undo RFC 9110 quoted-strings (older senders quote instead of
 * encoding), then one round of percent-decoding that rejects malformed `%` sequences and byte
 * sequences that are not UTF-8 (overlong forms, surrogates). Both lean on the engine's
 * URI codecs and precompiled regexes; the common value with nothing to do costs one regex test.
 */
import { createAttributeError } from './attributes.js';
import { CodecErrorCode } from './types.js';

/** What must be encoded: not U+0021–U+007E, or one of `"` and `%`. `u`: pairs stay whole. */
const NEEDS_ENCODING = /[^\x21\x23\x24\x26-\x7E]/gu;

/** Encodes one attribute value for a `ce-` header. Throws on an unpaired surrogate. */
export function encodeHeaderValue(value: string, name: string): string {
  try {
    // encodeURIComponent emits exactly the UTF-8 %XX form the binding asks for.
    return value.replace(NEEDS_ENCODING, encodeURIComponent);
  } catch {
    throw createAttributeError(
      CodecErrorCode.InvalidAttribute,
      '',
      name,
      'contains an unpaired surrogate and cannot be encoded',
    );
  }
}

/** Anything but printable ASCII, `"` and `%`: a value without these needs no decoding. */
const NEEDS_DECODING = /[^\x20\x21\x23\x24\x26-\x7E]/;

/** True for the common value that decodes to itself (and is printable ASCII). */
export function isPlainHeaderValue(raw: string): boolean {
  return !NEEDS_DECODING.test(raw);
}

/** Header bytes must be printable ASCII; anything else was not percent-encoded by the sender. */
const NOT_PRINTABLE_ASCII = /[^\x20-\x7E]/;
/** A `%` not followed by two hex digits. */
const INVALID_PERCENT = /%(?![0-9A-Fa-f]{2})/;
/** Whole value: plain characters and complete quoted-strings (backslash escapes inside). */
const QUOTED_VALUE = /^(?:[^"]|"(?:[^"\\]|\\[\s\S])*")*$/;
const QUOTED_STRING = /"((?:[^"\\]|\\[\s\S])*)"/g;
const QUOTED_PAIR = /\\([\s\S])/g;

function unquote(value: string, name: string): string {
  if (!QUOTED_VALUE.test(value)) {
    throw createAttributeError(
      CodecErrorCode.InvalidEncoding,
      '',
      name,
      `has an unterminated quoted-string in header "ce-${name}"`,
    );
  }
  return value.replace(QUOTED_STRING, (_match, inner: string) =>
    inner.includes('\\') ? inner.replace(QUOTED_PAIR, '$1') : inner,
  );
}

/**
 * Decodes a `ce-<name>` header value to the attribute's string. Errors are InvalidEncoding
 * naming the attribute; what the decoded string may contain is checked by the attribute rules.
 */
export function decodeHeaderValue(raw: string, name: string): string {
  if (isPlainHeaderValue(raw)) return raw;
  if (NOT_PRINTABLE_ASCII.test(raw)) {
    throw createAttributeError(
      CodecErrorCode.InvalidEncoding,
      '',
      name,
      `has characters outside printable ASCII in header "ce-${name}": percent-encode them as UTF-8`,
    );
  }
  const value = raw.includes('"') ? unquote(raw, name) : raw;
  if (!value.includes('%')) return value;
  if (INVALID_PERCENT.test(value)) {
    throw createAttributeError(
      CodecErrorCode.InvalidEncoding,
      '',
      name,
      `has an invalid percent-encoding in header "ce-${name}": "%" must be followed by two hex digits`,
    );
  }
  try {
    return decodeURIComponent(value);
  } catch {
    throw createAttributeError(
      CodecErrorCode.InvalidEncoding,
      '',
      name,
      `has percent-encoded bytes in header "ce-${name}" that are not valid UTF-8`,
    );
  }
}

/**
 * Syntax checks for the CloudEvents type system (spec §"Type System"). Every check is a
 * precompiled regex whose alternatives are disjoint, so matching is linear in the input (no
 * catastrophic backtracking on hostile values), plus a few integer comparisons.
 */

/**
 * Characters a CloudEvents `String` must not contain: control characters (U+0000–U+001F,
 * U+007F–U+009F), Unicode noncharacters, and unpaired surrogates (`u` mode sees a proper pair
 * as one code point, so only lone halves match \p{Cs}).
 */
const FORBIDDEN_STRING_CHARACTER = /[\p{Cc}\p{Noncharacter_Code_Point}\p{Cs}]/u;

export function isValidString(value: string): boolean {
  return !FORBIDDEN_STRING_CHARACTER.test(value);
}

export const INT32_MIN = -2_147_483_648;
export const INT32_MAX = 2_147_483_647;

export function isInt32(value: number): boolean {
  return Number.isInteger(value) && value >= INT32_MIN && value <= INT32_MAX;
}

// RFC 3339 §5.6 date-time. ABNF literals are case-insensitive, so `t` and `z` are accepted.
// Fixed positions let the ranges be read with charCodeAt instead of capture groups.
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

function readDigits(value: string, start: number, count: number): number {
  let n = 0;
  for (let i = start; i < start + count; i++) n = n * 10 + value.charCodeAt(i) - 0x30;
  return n;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/** RFC 3339 timestamp with real calendar ranges (no Feb 30, no hour 24). ASCII by construction. */
export function isTimestamp(value: string): boolean {
  if (!TIMESTAMP.test(value)) return false;
  const year = readDigits(value, 0, 4);
  const month = readDigits(value, 5, 2);
  const day = readDigits(value, 8, 2);
  const hour = readDigits(value, 11, 2);
  const minute = readDigits(value, 14, 2);
  const second = readDigits(value, 17, 2);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 60) return false;
  // A leap second can only end a minute; whole-minute offsets keep it at :59 locally too.
  if (second === 60 && minute !== 59) return false;
  const last = value.charCodeAt(value.length - 1);
  if (last === 0x5a || last === 0x7a) return true; // Z or z
  const end = value.length;
  return readDigits(value, end - 5, 2) <= 23 && readDigits(value, end - 2, 2) <= 59;
}

// RFC 3986 building blocks. `pct` and the single characters never overlap, so no backtracking.
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** path, query and fragment: *( pchar / "/" / "?" ). */
const PATH_QUERY = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*$/;
const USERINFO = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:]|%[0-9A-Fa-f]{2})*$/;
const REG_NAME = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;
/** IP-literal: IPv6 (loosely: hex, colons, dots) or IPvFuture. */
const IP_LITERAL = /^\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+)\]$/;
const PORT = /^[0-9]*$/;
const END_OF_AUTHORITY = /[/?]/;
/**
 * The common shapes, one linear regex each: `scheme://host[:port][/path][?query]` and
 * `/absolute/path[?query]`. Whatever they accept is valid; the rest gets the full check.
 */
const COMMON_URI =
  /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[A-Za-z0-9\-._~]+(?::[0-9]*)?(?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@]*)*(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?$/;
const COMMON_ABSOLUTE_PATH =
  /^\/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]+(?:\/[A-Za-z0-9\-._~!$&'()*+,;=:@]*)*)?(?:\?[A-Za-z0-9\-._~!$&'()*+,;=:@/?]*)?$/;
const END_OF_FIRST_SEGMENT = /[/?#]/;

function isAuthority(authority: string): boolean {
  let hostPort = authority;
  const at = authority.indexOf('@');
  if (at !== -1) {
    if (!USERINFO.test(authority.slice(0, at))) return false;
    hostPort = authority.slice(at + 1);
  }
  let host = hostPort;
  if (hostPort.startsWith('[')) {
    const close = hostPort.indexOf(']');
    if (close === -1) return false;
    host = hostPort.slice(0, close + 1);
    const rest = hostPort.slice(close + 1);
    if (rest !== '' && (rest[0] !== ':' || !PORT.test(rest.slice(1)))) return false;
    return IP_LITERAL.test(host);
  }
  const colon = hostPort.lastIndexOf(':');
  if (colon !== -1) {
    if (!PORT.test(hostPort.slice(colon + 1))) return false;
    host = hostPort.slice(0, colon);
  }
  return REG_NAME.test(host);
}

/**
 * RFC 3986 URI-reference (§4.1). With `requireScheme`, a URI (§3): what the spec calls an
 * absolute URI, except that a fragment is accepted (see docs/cloudevents-codec.md).
 */
export function isUriReference(value: string, requireScheme = false): boolean {
  if (COMMON_URI.test(value) || (!requireScheme && COMMON_ABSOLUTE_PATH.test(value))) return true;
  let rest = value;
  const scheme = SCHEME.exec(value);
  if (scheme !== null) {
    rest = value.slice(scheme[0].length);
  } else {
    if (requireScheme) return false;
    // A relative reference's first segment must not contain ':' (it would read as a scheme).
    const colon = value.indexOf(':');
    if (colon !== -1) {
      const end = value.search(END_OF_FIRST_SEGMENT);
      if (end === -1 || colon < end) return false;
    }
  }
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    if (!PATH_QUERY.test(rest.slice(hash + 1))) return false;
    rest = rest.slice(0, hash);
  }
  if (rest.startsWith('//')) {
    const end = rest.slice(2).search(END_OF_AUTHORITY);
    const authorityEnd = end === -1 ? rest.length : end + 2;
    if (!isAuthority(rest.slice(2, authorityEnd))) return false;
    rest = rest.slice(authorityEnd);
  }
  return PATH_QUERY.test(rest);
}

/** RFC 4648 §4 base64: standard alphabet, padding required, no whitespace. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function isBase64(value: string): boolean {
  return BASE64.test(value);
}

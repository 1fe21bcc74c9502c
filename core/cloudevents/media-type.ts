/**
 * Media types (RFC 2046 / RFC 9110 §8.3.1): `type "/" subtype *( OWS ";" OWS parameter )`,
 * a parameter value being a token or a quoted-string. Used for `datacontenttype`, for the
 * binary-mode `Content-Type`, and to pick the HTTP content mode.
 */

const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED_STRING =
  '"(?:[\\t\\x20\\x21\\x23-\\x5B\\x5D-\\x7E\\x80-\\xFF]|\\\\[\\t\\x20-\\x7E\\x80-\\xFF])*"';
/** Tokens, `;`, `=`, whitespace and quotes are disjoint classes: linear-time matching. */
const MEDIA_TYPE = new RegExp(
  `^${TOKEN}/${TOKEN}(?:[ \\t]*;[ \\t]*${TOKEN}=(?:${TOKEN}|${QUOTED_STRING}))*[ \\t]*$`,
);
/** One parameter, matched with `lastIndex` so a `;` inside a quoted value is never a split. */
const PARAMETER = new RegExp(`[ \\t]*;[ \\t]*(${TOKEN})=(${TOKEN}|${QUOTED_STRING})`, 'y');
const QUOTED_PAIR = /\\([\s\S])/g;

export function isMediaType(value: string): boolean {
  return MEDIA_TYPE.test(value);
}

/** `type/subtype`, lower-cased, without parameters. Tolerates any input (used for routing). */
export function readMediaTypeEssence(value: string): string {
  const semicolon = value.indexOf(';');
  return (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
}

/**
 * The value of parameter `name` (case-insensitive name, unquoted value), or undefined.
 * Only meaningful for a value that passed `isMediaType`.
 */
export function readMediaTypeParameter(value: string, name: string): string | undefined {
  const start = value.indexOf(';');
  if (start === -1) return undefined;
  let found: string | undefined;
  PARAMETER.lastIndex = start;
  for (let m = PARAMETER.exec(value); m !== null; m = PARAMETER.exec(value)) {
    if (m[1]?.toLowerCase() === name) {
      const raw = m[2] ?? '';
      found = raw.startsWith('"') ? raw.slice(1, -1).replace(QUOTED_PAIR, '$1') : raw;
    }
  }
  return found;
}

/** JSON format §3.1.1: a media type declares JSON when it is `*\/json` or `*\/*+json`. */
export function isJsonEssence(essence: string): boolean {
  return essence.endsWith('/json') || essence.endsWith('+json');
}

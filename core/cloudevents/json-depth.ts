/**
 * A bound on JSON nesting. JSON.parse copes with any depth, but recursive consumers of the
 * value (schema validators, JSON.stringify when re-encoding) overflow the stack on deep input,
 * so a hostile body is refused before it is parsed.
 */
import { CodecError, CodecErrorCode } from './types.js';

export const MAX_JSON_DEPTH = 64;

/** True when `text` has more than `limit` `{`/`[` in all (cheap, native scans). */
function hasMoreOpenersThan(text: string, limit: number): boolean {
  let count = 0;
  for (const opener of ['{', '[']) {
    let i = text.indexOf(opener);
    while (i !== -1) {
      if (++count > limit) return true;
      i = text.indexOf(opener, i + 1);
    }
  }
  return false;
}

/** The deepest nesting of objects and arrays in JSON text (brackets in strings ignored). */
function measureJsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22)
        i += text.charCodeAt(i) === 0x5c ? 2 : 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > deepest) deepest = depth;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return deepest;
}

/** True when JSON text nests deeper than `limit` levels. Most texts skip the exact scan. */
export function nestsDeeperThan(text: string, limit: number): boolean {
  return hasMoreOpenersThan(text, limit) && measureJsonDepth(text) > limit;
}

/** Refuses JSON nested deeper than MAX_JSON_DEPTH levels. Most bodies skip the exact scan. */
export function assertJsonDepth(text: string, what: string, attribute?: string): void {
  if (!hasMoreOpenersThan(text, MAX_JSON_DEPTH)) return;
  if (measureJsonDepth(text) > MAX_JSON_DEPTH) {
    throw new CodecError(
      CodecErrorCode.Malformed,
      `${what} nests JSON deeper than ${MAX_JSON_DEPTH} levels`,
      attribute === undefined ? undefined : { attribute },
    );
  }
}

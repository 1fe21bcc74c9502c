/**
 * LIKE patterns, compiled once per expression (the pattern is always a literal). `%` is any run
 * of characters, `_` exactly one character (a Unicode code point), `\%` and `\_` the literal
 * signs; any other backslash is itself. Matching is case-sensitive.
 *
 * No RegExp: `%a%a%a%…` against a long value makes a backtracking regex engine take
 * polynomial time, and the value comes from whoever publishes the event. The matcher below
 * backtracks only to the last `%`, so it is O(pattern × value) at worst. Common shapes
 * (`abc`, `abc%`, `%abc`, `%abc%`) become a single string method call.
 */

export type LikeMatcher = (value: string) => boolean;

const Part = { Literal: 0, One: 1, Any: 2 } as const;
type Part = (typeof Part)[keyof typeof Part];

interface ParsedPattern {
  kinds: Part[];
  /** UTF-16 code unit for each Literal part, 0 otherwise. */
  units: number[];
}

export function compileLikePattern(pattern: string): LikeMatcher {
  const parsed = parsePattern(pattern);
  return simpleMatcher(parsed) ?? ((value) => matchParts(parsed, value));
}

function parsePattern(pattern: string): ParsedPattern {
  const kinds: Part[] = [];
  const units: number[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charCodeAt(i);
    const next = pattern.charCodeAt(i + 1);
    if (c === 92 && (next === 37 || next === 95)) {
      kinds.push(Part.Literal);
      units.push(next);
      i++;
    } else if (c === 37) {
      // `%%` means the same as `%`; one part keeps the matcher's backtracking simple.
      if (kinds[kinds.length - 1] !== Part.Any) {
        kinds.push(Part.Any);
        units.push(0);
      }
    } else if (c === 95) {
      kinds.push(Part.One);
      units.push(0);
    } else {
      kinds.push(Part.Literal);
      units.push(c);
    }
  }
  return { kinds, units };
}

/** `lit`, `lit%`, `%lit`, `%lit%` (and `%`): a string method instead of the general matcher. */
function simpleMatcher({ kinds, units }: ParsedPattern): LikeMatcher | undefined {
  if (kinds.includes(Part.One)) return undefined;
  const leading = kinds[0] === Part.Any;
  const trailing = kinds.length > (leading ? 1 : 0) && kinds[kinds.length - 1] === Part.Any;
  const inner = kinds.slice(leading ? 1 : 0, trailing ? -1 : undefined);
  if (inner.includes(Part.Any)) return undefined;
  let literal = '';
  for (let i = leading ? 1 : 0; i < units.length - (trailing ? 1 : 0); i++) {
    literal += String.fromCharCode(units[i] as number);
  }
  if (leading && trailing) return literal === '' ? () => true : (v) => v.includes(literal);
  if (leading) return (v) => v.endsWith(literal);
  if (trailing) return (v) => v.startsWith(literal);
  return (v) => v === literal;
}

/** Width in code units of the code point at `i` (2 for a surrogate pair). */
function widthAt(value: string, i: number): number {
  const c = value.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) {
    const d = value.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return 2;
  }
  return 1;
}

function matchParts({ kinds, units }: ParsedPattern, value: string): boolean {
  const n = value.length;
  const m = kinds.length;
  let vi = 0;
  let pi = 0;
  let star = -1;
  let resume = 0;
  while (vi < n) {
    const kind = pi < m ? kinds[pi] : undefined;
    if (kind === Part.Literal && units[pi] === value.charCodeAt(vi)) {
      vi++;
      pi++;
    } else if (kind === Part.One) {
      vi += widthAt(value, vi);
      pi++;
    } else if (kind === Part.Any) {
      star = pi++;
      resume = vi;
    } else if (star !== -1) {
      // Let the last `%` take one more character and try the rest again.
      pi = star + 1;
      resume += widthAt(value, resume);
      vi = resume;
    } else {
      return false;
    }
  }
  while (pi < m && kinds[pi] === Part.Any) pi++;
  return pi === m;
}

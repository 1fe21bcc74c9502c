import { ErrorCode, HeraldError } from './errors.js';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_SEQUENCE = /^(\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;

/** Parses a Kubernetes-style duration ("10s", "2m", "168h", "1.5h", "250ms", or a sequence like "1h30m") to milliseconds. */
export function parseDuration(text: string): number {
  let rest = text.trim();
  if (rest === '') throw new HeraldError(ErrorCode.InvalidDuration, 'empty duration');
  let total = 0;
  const part = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/;
  while (rest.length > 0) {
    const m = part.exec(rest);
    if (!m) {
      throw new HeraldError(
        ErrorCode.InvalidDuration,
        `invalid duration "${text}": use a number and a unit (ms, s, m, h, d), e.g. "10s" or "168h"`,
      );
    }
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
    rest = rest.slice(m[0].length);
  }
  return Math.round(total);
}

/** True when `text` is one number+unit pair or a sequence of them. */
export function isDuration(text: string): boolean {
  return DURATION_SEQUENCE.test(text);
}

const QUANTITY_FACTOR = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
} as const;

/** Parses a Kubernetes quantity for byte sizes ("1Gi", "500M", "1024") to a number of bytes. */
export function parseByteQuantity(value: string | number): number {
  if (typeof value === 'number') return value;
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(value.trim());
  if (!m) {
    throw new HeraldError(
      ErrorCode.InvalidQuantity,
      `invalid byte quantity "${value}": use an integer with an optional suffix (Ki, Mi, Gi, Ti, k, M, G, T)`,
    );
  }
  return Number(m[1]) * QUANTITY_FACTOR[(m[2] ?? '') as keyof typeof QUANTITY_FACTOR];
}

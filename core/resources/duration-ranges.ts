/**
 * The valid range of every duration field of the resource specs (docs/resources.md,
 * "Duration ranges"). Producers have none. The CRDs refuse what a CEL rule can see in the
 * text — a zero where 0s means nothing (NONZERO_DURATION_RULE) — and the operator's compile
 * checks the whole range: CEL on the API server cannot measure Herald's durations (its
 * `duration()` is Go's, which has no `d` unit).
 */
import { parseDuration } from '../duration.js';
import { NONZERO_DURATION_RULE, toCelValidation } from './cel-rules.js';
import {
  ZERO_DURATION_PATTERN,
  describeDefault,
  durationSchema,
  type StructuralSchema,
} from './schema-parts.js';
import { Defaults } from './types.js';

/**
 * The ceiling of fields with no tighter one: far beyond any use, and nanoseconds of it stay well
 * inside the int64 JetStream reads (max_age, duplicate_window, nak delays; 292 years), past
 * which it refuses the stream or redelivers at once.
 */
export const MAX_DURATION = '3650d';

export interface DurationRange {
  /** The smallest value other than 0s (after rounding to milliseconds). */
  min: string;
  max: string;
  /** What 0s means where it means something; absent where 0s is refused. */
  zero?: string;
}

/** Keyed like `Defaults`: every duration field has a default. */
export const DURATION_RANGES = {
  // JetStream refuses a max_age under 100 ms; 0 is its "no age limit".
  retentionMaxAge: { min: '100ms', max: MAX_DURATION, zero: 'no age limit' },
  // JetStream cannot turn duplicate detection off: a 0 window silently becomes its 2m default,
  // and newer servers refuse windows under 100 ms.
  duplicateWindow: { min: '100ms', max: MAX_DURATION },
  // 0 aborts every POST at once. ack_wait is at least twice the timeout: how long a crashed
  // dispatcher's deliveries wait to be redelivered (and Node timers past 24.8 days fire at once).
  timeout: { min: '1ms', max: '1h' },
  // 0 makes every retry immediate (0·2ⁿ stays 0), using up all attempts in a moment.
  initialDelay: { min: '1ms', max: MAX_DURATION },
  maxDelay: { min: '1ms', max: MAX_DURATION },
  retryAfterMax: { min: '1ms', max: MAX_DURATION, zero: 'Retry-After is ignored' },
  autoPauseAfter: { min: '1ms', max: MAX_DURATION, zero: 'never pause' },
} as const satisfies Partial<Record<keyof typeof Defaults, DurationRange>>;

export type DurationField = keyof typeof DURATION_RANGES;

const ZERO_DURATION = new RegExp(ZERO_DURATION_PATTERN);

/** The range in words, e.g. `from 1ms to 1h` or `0s (never), or from 1ms to 3650d`. */
export function describeDurationRange(range: DurationRange): string {
  const span = `from ${range.min} to ${range.max}`;
  return range.zero === undefined ? span : `0s (${range.zero}), or ${span}`;
}

/**
 * Why a duration that parses is outside the range of `field`, or undefined when it is inside.
 * A value written as non-zero that rounds to 0 ms ("0.1ms") is below the minimum, never 0s.
 */
export function describeRangeViolation(text: string, field: DurationField): string | undefined {
  const range: DurationRange = DURATION_RANGES[field];
  if (ZERO_DURATION.test(text.trim())) {
    return range.zero === undefined ? `must be more than 0, not "${text}"` : undefined;
  }
  const ms = parseDuration(text);
  if (ms >= parseDuration(range.min) && ms <= parseDuration(range.max)) return undefined;
  return `must be ${describeDurationRange(range)}, not "${text}"`;
}

/**
 * The schema of a duration field: its range and default in the description, and the CEL rule
 * against zero where 0s means nothing.
 */
export function durationFieldSchema(text: string, field: DurationField): StructuralSchema {
  const range: DurationRange = DURATION_RANGES[field];
  const sentence = describeDurationRange(range);
  const description = describeDefault(
    `${text} ${sentence[0]!.toUpperCase()}${sentence.slice(1)}.`,
    Defaults[field],
  );
  return range.zero === undefined
    ? durationSchema(description, {
        'x-kubernetes-validations': [toCelValidation(NONZERO_DURATION_RULE)],
      })
    : durationSchema(description);
}

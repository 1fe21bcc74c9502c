/**
 * The operator's HERALD_ATTEMPTS limits (docs/delivery.md "Attempt log"): three flags, spread
 * into the FLAGS table (cli/flag-table.ts), and their reading into typed limits. The defaults
 * are the operator's own (SystemStreamLimits.attempts).
 */
import { ErrorCode, HeraldError } from '../core/errors.js';
import { parseByteQuantity, parseDuration } from '../core/duration.js';
import type { AttemptLogLimits } from '../operator/jetstream-config.js';
import type { FlagSpec, FlagValues } from './flags.js';

export const ATTEMPT_LOG_FLAGS = {
  'attempts-max-age': {
    env: 'HERALD_ATTEMPTS_MAX_AGE',
    type: 'string',
    default: '7d',
    help: 'attempt records older than this leave HERALD_ATTEMPTS, e.g. 7d, 36h (at least 1s)',
  },
  'attempts-max-bytes': {
    env: 'HERALD_ATTEMPTS_MAX_BYTES',
    type: 'string',
    default: '256Mi',
    help: 'size of HERALD_ATTEMPTS, all subscriptions together, e.g. 256Mi, 2Gi; oldest go first',
  },
  'attempts-max-per-subject': {
    env: 'HERALD_ATTEMPTS_MAX_PER_SUBJECT',
    type: 'string',
    default: '10000',
    help: 'attempt records kept per subscription (a subject each); its oldest go first',
  },
} as const satisfies Record<string, FlagSpec>;

type AttemptLogFlag = keyof typeof ATTEMPT_LOG_FLAGS;

/** JetStream refuses a max age under 100 ms; a log kept for less than a second shows nothing. */
const MIN_MAX_AGE_MS = 1_000;

function refuse(name: AttemptLogFlag, value: unknown, expected: string): HeraldError {
  return new HeraldError(
    ErrorCode.Usage,
    `--${name} (${ATTEMPT_LOG_FLAGS[name].env}) must be ${expected}, got "${String(value)}"`,
  );
}

/** The flag's value parsed, when it is a positive whole number; undefined otherwise. */
function readPositive(
  name: AttemptLogFlag,
  values: FlagValues,
  parse: (text: string) => number,
): number | undefined {
  const text = String(values[name]).trim();
  let n: number;
  try {
    n = parse(text);
  } catch {
    n = NaN;
  }
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** The three flags as limits; a value JetStream cannot take is refused, naming flag and env. */
export function readAttemptLogLimits(values: FlagValues): AttemptLogLimits {
  const maxAgeMs = readPositive('attempts-max-age', values, parseDuration);
  if (maxAgeMs === undefined || maxAgeMs < MIN_MAX_AGE_MS) {
    throw refuse(
      'attempts-max-age',
      values['attempts-max-age'],
      'a duration of at least 1s, like 7d, 36h or 1h30m',
    );
  }
  const maxBytes = readPositive('attempts-max-bytes', values, parseByteQuantity);
  if (maxBytes === undefined) {
    throw refuse(
      'attempts-max-bytes',
      values['attempts-max-bytes'],
      'a positive byte size: a whole number with an optional suffix (Ki, Mi, Gi, Ti, k, M, G, T), like 256Mi',
    );
  }
  const perSubject = readPositive('attempts-max-per-subject', values, (t) =>
    /^\d+$/.test(t) ? Number(t) : NaN,
  );
  if (perSubject === undefined) {
    throw refuse(
      'attempts-max-per-subject',
      values['attempts-max-per-subject'],
      'a whole number of at least 1',
    );
  }
  return { maxAgeMs, maxBytes, maxPerSubject: perSubject };
}

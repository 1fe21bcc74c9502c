/**
 * What to do after one delivery attempt: ack, nak with a delay, or dead-letter. Pure, so the
 * whole policy is table-tested. The attempt number is JetStream's delivery count, so the
 * schedule survives a dispatcher crash (retries never live only in memory, DESIGN.md §1).
 */
import type { CompiledSubscription } from '../core/config/model.js';

export type RetryPolicy = CompiledSubscription['delivery']['retry'];

/** The result of one attempt, reduced to what the policy needs. */
export type AttemptResult =
  | {
      kind: 'response';
      status: number;
      /** The raw `Retry-After` header, when the sink sent one. */
      retryAfter?: string;
      /** Start of the response body (≤ 1 KiB), for dead letters; never logged. */
      bodyExcerpt?: string;
    }
  | { kind: 'failure'; failure: AttemptFailure; message: string };

export const AttemptFailure = {
  /** No response within delivery.timeout. */
  Timeout: 'timeout',
  /** DNS, connect, TLS, reset: the request may not have reached the sink. */
  Network: 'network',
  /** Herald could not build the request (e.g. a secret that does not unseal). */
  Internal: 'internal',
  /** The SSRF guard refused the sink's address: nothing was sent, and retrying cannot help. */
  ForbiddenAddress: 'forbidden_address',
} as const;
export type AttemptFailure = (typeof AttemptFailure)[keyof typeof AttemptFailure];

/** Why an event was dead-lettered: the `heralderrorcode` extension. */
export const DeadLetterCode = {
  /** A 4xx that retrying cannot fix. */
  Rejected: 'rejected',
  /**
   * 410 on a delivery that cannot pause (e.g. to a dead-letter sink); a subscription's own sink
   * answering 410 pauses the subscription instead (decideNextStep).
   */
  Gone: 'gone',
  /** 3xx: redirects are never followed (the Location could point anywhere). */
  Redirect: 'redirect_not_followed',
  /** A status outside 2xx–5xx. */
  UnexpectedStatus: 'unexpected_status',
  /** Retryable failures until retry.maxAttempts. */
  AttemptsExhausted: 'attempts_exhausted',
  /** The sink resolved to an address the SSRF policy refuses (docs/security.md). */
  ForbiddenAddress: 'forbidden_address',
} as const;
export type DeadLetterCode = (typeof DeadLetterCode)[keyof typeof DeadLetterCode];

export type Classification =
  { verdict: 'delivered' } | { verdict: 'retryable' } | { verdict: 'fatal'; code: DeadLetterCode };

/** Statuses below 500 worth retrying: the sink may be deploying, racing, or shedding load. */
const RETRYABLE_4XX = new Set([404, 408, 409, 425, 429]);

/** Classifies one attempt on its own, before the attempt count is considered. */
export function classifyAttempt(result: AttemptResult): Classification {
  if (result.kind === 'failure') {
    return result.failure === AttemptFailure.ForbiddenAddress
      ? { verdict: 'fatal', code: DeadLetterCode.ForbiddenAddress }
      : { verdict: 'retryable' };
  }
  const { status } = result;
  if (status >= 200 && status < 300) return { verdict: 'delivered' };
  if (status >= 500 && status < 600) return { verdict: 'retryable' };
  if (RETRYABLE_4XX.has(status)) return { verdict: 'retryable' };
  if (status === 410) return { verdict: 'fatal', code: DeadLetterCode.Gone };
  if (status >= 400 && status < 500) return { verdict: 'fatal', code: DeadLetterCode.Rejected };
  if (status >= 300 && status < 400) return { verdict: 'fatal', code: DeadLetterCode.Redirect };
  return { verdict: 'fatal', code: DeadLetterCode.UnexpectedStatus };
}

/**
 * `Retry-After` as milliseconds from `nowMs`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
 * Undefined when absent or unparseable; a date in the past is 0.
 */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Date.parse accepts far more than HTTP-dates (e.g. "1"); require a weekday-led date.
  if (!/^[A-Za-z]{3},? /.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/**
 * The nak delay before attempt `attempt + 1`: the backoff step (initialDelay·2^(attempt−1), or
 * initialDelay·attempt when linear), capped at maxDelay, with full jitter (uniform in
 * [0, step]) so a sink's failures do not bring every retry back at once. A `Retry-After`
 * (capped at retryAfterMax) is a floor: never retry sooner than the sink asked.
 */
export function computeRetryDelay(
  policy: RetryPolicy,
  attempt: number,
  options: { retryAfterMs?: number; random?: () => number } = {},
): number {
  const n = Math.max(1, Math.floor(attempt));
  const step =
    policy.backoff === 'linear'
      ? policy.initialDelayMs * n
      : policy.initialDelayMs * 2 ** Math.min(n - 1, 52);
  const capped = Math.min(step, policy.maxDelayMs);
  const random = options.random ?? Math.random;
  const jittered = Math.floor(random() * capped);
  if (options.retryAfterMs === undefined) return jittered;
  return Math.max(Math.min(options.retryAfterMs, policy.retryAfterMaxMs), jittered);
}

export type NextStep =
  | { action: 'ack' }
  | { action: 'nak'; delayMs: number; reason: string }
  | { action: 'dead_letter'; code: DeadLetterCode; reason: string }
  /** 410 Gone: keep the event (nak) and pause the subscription until someone resumes it. */
  | { action: 'pause'; reason: string };

/**
 * Combines the classification with the attempt count: a retryable failure on the last attempt
 * (deliveryCount ≥ maxAttempts) is dead-lettered. The consumer's max_deliver is one more than
 * maxAttempts; that spare delivery never gets here (the consume loop only dead-letters it).
 */
export function decideNextStep(
  result: AttemptResult,
  attempt: number,
  policy: RetryPolicy,
  options: { nowMs?: number; random?: () => number; pauseOnGone?: boolean } = {},
): NextStep {
  const c = classifyAttempt(result);
  if (c.verdict === 'delivered') return { action: 'ack' };
  const reason = describeAttempt(result);
  if (c.verdict === 'fatal' && c.code === DeadLetterCode.Gone && options.pauseOnGone !== false) {
    return { action: 'pause', reason: `${reason} (Gone): the sink asked for no more deliveries` };
  }
  if (c.verdict === 'fatal') return { action: 'dead_letter', code: c.code, reason };
  if (attempt >= policy.maxAttempts) {
    return {
      action: 'dead_letter',
      code: DeadLetterCode.AttemptsExhausted,
      reason: `${reason} (attempt ${attempt} of ${policy.maxAttempts})`,
    };
  }
  const retryAfterMs =
    result.kind === 'response'
      ? parseRetryAfter(result.retryAfter, options.nowMs ?? Date.now())
      : undefined;
  const delayOptions: { retryAfterMs?: number; random?: () => number } = {};
  if (retryAfterMs !== undefined) delayOptions.retryAfterMs = retryAfterMs;
  if (options.random) delayOptions.random = options.random;
  return { action: 'nak', delayMs: computeRetryDelay(policy, attempt, delayOptions), reason };
}

/** One short human line for logs and `heralderrorreason`; no payloads. */
export function describeAttempt(result: AttemptResult): string {
  if (result.kind === 'failure') return `${result.failure}: ${result.message}`;
  return `sink answered HTTP ${result.status}`;
}

/** The status class used as a metric label: 2xx…5xx, or the failure kind. */
export function statusClassOf(result: AttemptResult): string {
  if (result.kind === 'failure') return result.failure;
  const hundreds = Math.floor(result.status / 100);
  return hundreds >= 1 && hundreds <= 5 ? `${hundreds}xx` : 'other';
}

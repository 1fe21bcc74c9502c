/**
 * The pure half of endpoint health: what one dispatcher saw since its last write (a tally),
 * and how a tally merges into the shared record that every replica writes. Pure, so the
 * merge rules are table-tested; dispatcher/health.ts does the I/O.
 *
 * Merging is by time, because replicas only ever send what they saw since their last write:
 * the last success anywhere resets consecutiveFailures; failures seen after the stored last
 * success add to it. Failures another replica saw after a newer local success, within the same
 * second, are not counted — consecutiveFailures is exact on one replica and close across
 * several, which is what a health signal needs.
 */
import {
  createDeliveryState,
  isPauseInEffect,
  liftPause,
  PauseCode,
  timeOf,
  toTime,
  type DeliveryState,
} from '../core/delivery-state.js';

/** What one dispatcher saw of a subscription's attempts since its last write. */
export interface AttemptTally {
  /** The latest success (ms). */
  successAt?: number;
  /** Failures after successAt (all of them when there was none). */
  failures: number;
  /** The first of those failures. */
  firstFailureAt?: number;
  lastFailureAt?: number;
  /** The latest attempt, and how it ended. */
  lastAttemptAt?: number;
  lastSucceeded?: boolean;
  lastStatus?: number;
  lastError?: string;
}

export function emptyTally(): AttemptTally {
  return { failures: 0 };
}

export function isTallyEmpty(t: AttemptTally): boolean {
  return t.lastAttemptAt === undefined;
}

/** Whether the last attempt in the tally failed; undefined when it holds none. */
export function lastAttemptFailed(t: AttemptTally): boolean | undefined {
  return t.lastSucceeded === undefined ? undefined : !t.lastSucceeded;
}

/** Adds one attempt (at `atMs`) to the tally, in place. */
export function addAttempt(
  t: AttemptTally,
  atMs: number,
  outcome: { succeeded: boolean; status?: number; error?: string },
): void {
  t.lastAttemptAt = atMs;
  t.lastSucceeded = outcome.succeeded;
  if (outcome.status === undefined) delete t.lastStatus;
  else t.lastStatus = outcome.status;
  if (outcome.succeeded) {
    t.successAt = atMs;
    t.failures = 0;
    delete t.firstFailureAt;
    delete t.lastError;
    return;
  }
  t.failures++;
  t.firstFailureAt ??= atMs;
  t.lastFailureAt = atMs;
  t.lastError = outcome.error ?? 'failed';
}

/** One tally of `older` followed by `newer` (a write that failed, then what came after). */
export function combineTallies(older: AttemptTally, newer: AttemptTally): AttemptTally {
  if (isTallyEmpty(newer)) return { ...older };
  if (isTallyEmpty(older) || newer.successAt !== undefined) return { ...newer };
  const out: AttemptTally = { ...newer, failures: older.failures + newer.failures };
  if (older.successAt !== undefined) out.successAt = older.successAt;
  const first = older.firstFailureAt ?? newer.firstFailureAt;
  if (first !== undefined) out.firstFailureAt = first;
  return out;
}

const laterTime = (stored: string | undefined, ms: number | undefined): string | undefined => {
  if (ms === undefined) return stored;
  const storedMs = timeOf(stored);
  return storedMs !== undefined && storedMs >= ms ? stored : toTime(ms);
};

function lastAttemptOf(s: DeliveryState): number | undefined {
  const times = [timeOf(s.lastSuccessTime), timeOf(s.lastFailureTime)].filter(
    (t): t is number => t !== undefined,
  );
  return times.length > 0 ? Math.max(...times) : undefined;
}

export interface MergeContext {
  namespace: string;
  name: string;
  /** The generation this dispatcher runs. */
  generation: number;
  nowMs: number;
}

/** `stored` with `tally` merged in (see the module comment). Pause fields are left alone. */
export function mergeTally(
  stored: DeliveryState | undefined,
  tally: AttemptTally,
  ctx: MergeContext,
): DeliveryState {
  const base = stored ?? createDeliveryState(ctx.namespace, ctx.name, ctx.generation, ctx.nowMs);
  const next: DeliveryState = {
    ...base,
    generation: Math.max(base.generation, ctx.generation),
    updatedAt: toTime(ctx.nowMs),
  };
  if (isTallyEmpty(tally)) return next;

  const storedLast = lastAttemptOf(base);
  if (storedLast === undefined || (tally.lastAttemptAt ?? 0) >= storedLast) {
    if (tally.lastStatus === undefined) delete next.lastStatus;
    else next.lastStatus = tally.lastStatus;
    if (tally.lastError === undefined) delete next.lastError;
    else next.lastError = tally.lastError;
  }
  const lastSuccess = laterTime(base.lastSuccessTime, tally.successAt);
  const lastFailure = laterTime(base.lastFailureTime, tally.lastFailureAt);
  if (lastSuccess !== undefined) next.lastSuccessTime = lastSuccess;
  if (lastFailure !== undefined) next.lastFailureTime = lastFailure;

  const storedSuccess = timeOf(base.lastSuccessTime) ?? -Infinity;
  // The auto-pause clock never starts before the last success or the last resume.
  const floor = Math.max(storedSuccess, timeOf(base.resumedAt) ?? -Infinity);
  if (tally.successAt !== undefined && tally.successAt >= storedSuccess) {
    next.consecutiveFailures = tally.failures;
    if (tally.firstFailureAt === undefined) delete next.failingSince;
    else next.failingSince = toTime(Math.max(tally.firstFailureAt, floor));
    return next;
  }
  // Local failures before the stored success (seen by another replica) do not count.
  const counted =
    tally.lastFailureAt !== undefined && tally.lastFailureAt > storedSuccess ? tally.failures : 0;
  next.consecutiveFailures = base.consecutiveFailures + counted;
  if (counted > 0 && base.failingSince === undefined && tally.firstFailureAt !== undefined) {
    next.failingSince = toTime(Math.max(tally.firstFailureAt, floor));
  }
  return next;
}

/** `state` paused (unless a pause already holds this generation). */
export function withPause(
  state: DeliveryState,
  pause: { code: PauseCode; reason: string; generation: number },
  nowMs: number,
): DeliveryState {
  if (isPauseInEffect(state, pause.generation)) return state;
  return {
    ...state,
    pausedReason: pause.reason,
    pausedCode: pause.code,
    pausedAt: toTime(nowMs),
    pausedGeneration: pause.generation,
    updatedAt: toTime(nowMs),
  };
}

/** A pause taken at an older generation no longer holds `generation`: lift it. */
export function liftStalePause(
  state: DeliveryState,
  generation: number,
  nowMs: number,
): DeliveryState {
  if (state.pausedReason === undefined || isPauseInEffect(state, generation)) return state;
  return liftPause(state, nowMs);
}

/**
 * The auto-pause reason when the endpoint has seen only failures for `autoPauseAfterMs`
 * (0 = never), else undefined.
 */
export function findAutoPauseReason(
  state: DeliveryState,
  autoPauseAfterMs: number,
  nowMs: number,
): string | undefined {
  if (autoPauseAfterMs <= 0 || state.consecutiveFailures === 0) return undefined;
  const since = timeOf(state.failingSince);
  if (since === undefined || nowMs - since < autoPauseAfterMs) return undefined;
  return (
    `only failed attempts for ${formatDurationMs(nowMs - since)} ` +
    `(${state.consecutiveFailures} in a row since ${toTime(since)}; ` +
    `delivery.autoPauseAfter is ${formatDurationMs(autoPauseAfterMs)})` +
    (state.lastError ? `; last: ${state.lastError}` : '')
  );
}

/** A 410 the dispatcher saw and has not written yet. */
export interface PendingPause {
  reason: string;
  /** The generation the loop ran when the sink answered 410. */
  generation: number;
}

export interface NextStateTarget {
  namespace: string;
  name: string;
  /** The subscription's current generation. */
  generation: number;
  /** 0 = never. */
  autoPauseAfterMs: number;
}

/**
 * The record after one write: `tally` merged in, a pause taken at an older generation lifted,
 * then a pending 410 or an auto-pause applied. Undefined when there is nothing to write.
 */
export function decideNextState(
  current: DeliveryState | undefined,
  tally: AttemptTally,
  pause: PendingPause | undefined,
  target: NextStateTarget,
  nowMs: number,
): DeliveryState | undefined {
  const { generation } = target;
  const stale = current?.pausedReason !== undefined && !isPauseInEffect(current, generation);
  // A 410 under a generation since edited does not pause the new one.
  const pauseNow = pause && pause.generation >= generation ? pause : undefined;
  if (isTallyEmpty(tally) && !pauseNow && !stale) return undefined;
  let next = mergeTally(current, tally, { ...target, nowMs });
  next = liftStalePause(next, generation, nowMs);
  if (pauseNow) {
    return withPause(
      next,
      { code: PauseCode.SinkGone, reason: pauseNow.reason, generation },
      nowMs,
    );
  }
  if (isPauseInEffect(next, generation)) return next;
  const reason = findAutoPauseReason(next, target.autoPauseAfterMs, nowMs);
  if (!reason) return next;
  return withPause(next, { code: PauseCode.FailingTooLong, reason, generation }, nowMs);
}

/** A short human duration, in the units Subscriptions use: `26h5m`, `3m20s`, `1.5s`, `450ms`. */
export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  if (ms < 60_000) return `${Math.floor(ms / 100) / 10}s`;
  const units = [
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const;
  let rest = Math.floor(ms / 1000) * 1000;
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    } else if (parts.length > 0) break;
  }
  return parts.join('');
}

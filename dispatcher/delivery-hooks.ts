/**
 * Extension points of the consume loop, so features around a delivery (rate limits, the sink
 * validation handshake, endpoint health, the attempts log) live in their own modules and the
 * loop stays about JetStream. Hooks are per dispatcher, not per subscription: each receives the
 * subscription and keeps its own per-subscription state, which survives in-place updates.
 */
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { PreparedSubscription } from './prepare.js';
import type { AttemptResult, NextStep } from './retry.js';

/** One POST to a sink and what the loop decided after it. */
export interface AttemptRecord {
  subscription: PreparedSubscription;
  event: CloudEvent;
  /** The event's Nats-Msg-Id (dedup key at ingest). */
  messageId: string;
  webhookId: string;
  stream: string;
  streamSequence: number;
  /** JetStream's delivery count: 1 for the first attempt. */
  attempt: number;
  /** Wall-clock start of the request, ms since the epoch. */
  startedAt: number;
  latencyMs: number;
  result: AttemptResult;
  step: NextStep;
}

export interface DeliveryHooks {
  /**
   * Resolves when an attempt may start (a rate limit, a sink not verified yet). Rejects or
   * resolves early once `signal` aborts (the loop is stopping); the loop then gives the message
   * back. Long waits are fine: the loop keeps the message with in-progress acks meanwhile.
   */
  beforeAttempt?(sub: PreparedSubscription, signal: AbortSignal): Promise<void> | void;
  /** Sees every attempt, after the decision and before the settlement. Must not throw. */
  afterAttempt?(record: AttemptRecord): void;
  /**
   * The sink asked to stop (410 Gone): the loop has stopped pulling and given its messages
   * back; this hook makes the pause stick (and visible) for every dispatcher.
   */
  pauseRequested?(sub: PreparedSubscription, reason: string): void;
  /** The subscription's loops stopped; `removed` when it left the config (forget its state). */
  subscriptionStopped?(id: string, removed: boolean): void;
}

/**
 * Thrown by beforeAttempt when this attempt should not happen now but the event must come
 * back at once (e.g. the sink changed while it waited): the loop naks it without a delay
 * and without logging an error.
 */
export interface GiveBack {
  readonly giveBack: true;
}

export const isGiveBack = (err: unknown): err is GiveBack =>
  typeof err === 'object' && err !== null && (err as { giveBack?: unknown }).giveBack === true;

/** Runs every hook's beforeAttempt in order. */
export async function waitBeforeAttempt(
  hooks: readonly DeliveryHooks[],
  sub: PreparedSubscription,
  signal: AbortSignal,
): Promise<void> {
  for (const h of hooks) if (h.beforeAttempt) await h.beforeAttempt(sub, signal);
}

/** Calls `fn` on each hook that has it; a hook that throws is logged by `onError`, not fatal. */
export function notifyHooks(
  hooks: readonly DeliveryHooks[],
  fn: (h: DeliveryHooks) => void,
  onError: (err: unknown) => void,
): void {
  for (const h of hooks) {
    try {
      fn(h);
    } catch (err) {
      onError(err);
    }
  }
}

/**
 * Endpoint health (issue 4 item 7): a DeliveryHooks implementation that records each
 * subscription's consecutive failures, last status and last success in KV
 * `herald-delivery-state` (core/delivery-state.ts), and pauses a subscription when its sink
 * answers 410 Gone or has seen only failures for `delivery.autoPauseAfter`.
 *
 * Attempts are tallied in memory and written at most once per `flushIntervalMs` per
 * subscription, except on a transition (the first failure after a success, a recovery, a
 * pause), which is written at once. Every write is a compare-and-set merge (health-tally.ts),
 * since every replica writes the same record. A write NATS refuses keeps its tally and is
 * retried; a pause is never dropped.
 *
 * Every dispatcher watches the bucket: the supervisor asks `pausedReasonFor` before starting a
 * subscription, so a paused one runs on no replica, and `change` tells it when to look again.
 * A pause holds the generation it was taken at; an edit of the Subscription (a new
 * generation) lifts it, as does `herald resume`.
 */
import { EventEmitter } from 'node:events';
import type { KV } from '@nats-io/kv';
import type { ConfigCache, ConfigChange } from '../core/config/kv.js';
import type { CompiledSubscription } from '../core/config/model.js';
import {
  deleteDeliveryState,
  isPauseInEffect,
  liftPause,
  PauseCode,
  updateDeliveryState,
  type DeliveryState,
  type DeliveryStateChange,
  type DeliveryStateView,
} from '../core/delivery-state.js';
import { parseDuration } from '../core/duration.js';
import type { Logger } from '../core/logging.js';
import { Defaults } from '../core/resources/types.js';
import type { AttemptRecord, DeliveryHooks } from './delivery-hooks.js';
import {
  addAttempt,
  combineTallies,
  decideNextState,
  emptyTally,
  isTallyEmpty,
  lastAttemptFailed,
  type AttemptTally,
  type PendingPause,
} from './health-tally.js';
import type { DispatcherMetrics } from './metrics.js';
import type { PreparedSubscription } from './prepare.js';
import { AttemptFailure, describeAttempt } from './retry.js';

export const DEFAULT_AUTO_PAUSE_AFTER_MS = parseDuration(Defaults.autoPauseAfter);
/** A failed write is retried from this delay, doubling… */
const RETRY_INITIAL_MS = 500;
/** …up to this. */
const RETRY_MAX_MS = 15_000;
/** How long close() waits for the last writes. */
const CLOSE_BUDGET_MS = 5_000;

export interface EndpointHealthOptions {
  kv: KV;
  /** The watched delivery states (watchDeliveryStates); this module's writes go into it too. */
  view: DeliveryStateView;
  cache: ConfigCache;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** Per subscription, writes at most this often except on transitions. Default 1000. */
  flushIntervalMs?: number;
  now?: () => number;
}

interface Tracker {
  namespace: string;
  name: string;
  /** The generation the loops ran when they last reported. */
  generation: number;
  tally: AttemptTally;
  /** A 410 not yet written; it holds the subscription paused on this replica meanwhile. */
  pause?: PendingPause;
  timer?: NodeJS.Timeout;
  flushing?: Promise<void>;
  /** Another flush was asked for while one ran (`now`: without waiting for the interval). */
  again?: { now: boolean };
  lastFlushAt: number;
  failedWrites: number;
  retryMs: number;
}

export class EndpointHealth
  extends EventEmitter<{ change: [namespace: string, name: string] }>
  implements DeliveryHooks
{
  private readonly trackers = new Map<string, Tracker>();
  /** Stale pauses being lifted, as `<id>@<generation>`, so each is lifted once. */
  private readonly lifting = new Set<string>();
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly onStateChange = (c: DeliveryStateChange): void => this.noteStateChange(c);
  private closed = false;

  constructor(private readonly o: EndpointHealthOptions) {
    super();
    this.intervalMs = o.flushIntervalMs ?? 1_000;
    this.now = o.now ?? Date.now;
    o.view.on('change', this.onStateChange);
    for (const s of o.view.states()) this.refreshMetrics(s.namespace, s.name);
  }

  afterAttempt(record: AttemptRecord): void {
    const { result, step } = record;
    // Herald's own trouble (a secret that does not unseal, the dispatcher stopping) says
    // nothing about the endpoint.
    if (result.kind === 'failure' && result.failure === AttemptFailure.Internal) return;
    const t = this.trackerFor(record.subscription);
    const stored = this.o.view.get(t.namespace, t.name)?.state;
    const wasFailing = lastAttemptFailed(t.tally) ?? (stored?.consecutiveFailures ?? 0) > 0;
    const succeeded = step.action === 'ack';
    addAttempt(t.tally, this.now(), {
      succeeded,
      ...(result.kind === 'response' && { status: result.status }),
      ...(!succeeded && { error: describeAttempt(result) }),
    });
    // The first failure after a success, and a recovery, are written at once.
    this.flushSoon(t, succeeded === wasFailing);
  }

  pauseRequested(sub: PreparedSubscription, reason: string): void {
    const t = this.trackerFor(sub);
    t.pause = { reason, generation: sub.config.generation };
    this.o.logger.warn(
      { namespace: sub.namespace, subscription: sub.name, reason },
      'subscription paused: the sink asked for no more deliveries',
    );
    this.emit('change', sub.namespace, sub.name);
    this.flushSoon(t, true);
  }

  subscriptionStopped(id: string, removed: boolean): void {
    const t = this.trackers.get(id);
    if (!t) return;
    if (removed) this.dropTracker(id, t);
    else if (!isTallyEmpty(t.tally) || t.pause) this.flushSoon(t, true);
  }

  /**
   * Why `sub` must not run now (paused by its endpoint's health), or undefined. A pause taken
   * at an older generation does not hold: the record is cleared in the background.
   */
  pausedReasonFor(sub: CompiledSubscription): string | undefined {
    const t = this.trackers.get(`${sub.namespace}/${sub.name}`);
    if (t?.pause && t.pause.generation >= sub.generation) return t.pause.reason;
    const state = this.o.view.get(sub.namespace, sub.name)?.state;
    if (state?.pausedReason === undefined) return undefined;
    if (isPauseInEffect(state, sub.generation)) return state.pausedReason;
    this.liftStale(sub.namespace, sub.name, sub.generation);
    return undefined;
  }

  /** Follows the config: a removed subscription's record is deleted; gauges follow generations. */
  noteConfigChange(change: ConfigChange): void {
    if (change.value === undefined) void this.removeSubscription(change.namespace, change.name);
    else this.refreshMetrics(change.namespace, change.name);
  }

  /**
   * Forgets a subscription that left the config and deletes its record, so one re-created
   * under the same name (generation 1 again) does not inherit a pause.
   */
  async removeSubscription(namespace: string, name: string): Promise<void> {
    const id = `${namespace}/${name}`;
    const t = this.trackers.get(id);
    if (t) this.dropTracker(id, t);
    await t?.flushing;
    if (!this.o.view.get(namespace, name)?.state) return;
    try {
      await deleteDeliveryState(this.o.kv, namespace, name);
    } catch (err) {
      this.o.logger.warn(
        { err, namespace, subscription: name },
        'cannot delete the delivery state of a removed subscription',
      );
    }
  }

  /** Deletes the records of subscriptions not in the config (removed while no dispatcher ran). */
  async removeOrphans(): Promise<void> {
    const orphans = [...this.o.view.states()].filter(
      (s) => !this.o.cache.findSubscription(s.namespace, s.name),
    );
    await Promise.all(orphans.map((s) => this.removeSubscription(s.namespace, s.name)));
  }

  /** Writes what is pending (once each, within a budget) and stops following the bucket. */
  async close(): Promise<void> {
    this.closed = true;
    this.o.view.off('change', this.onStateChange);
    const last: Promise<void>[] = [];
    for (const t of this.trackers.values()) {
      clearTimeout(t.timer);
      t.timer = undefined;
      last.push(
        (async () => {
          await t.flushing;
          if (!isTallyEmpty(t.tally) || t.pause) await this.flush(t);
        })(),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_BUDGET_MS)));
    await Promise.race([Promise.all(last), budget]);
    clearTimeout(timer);
  }

  private trackerFor(sub: PreparedSubscription): Tracker {
    let t = this.trackers.get(sub.id);
    if (!t) {
      t = {
        namespace: sub.namespace,
        name: sub.name,
        generation: sub.config.generation,
        tally: emptyTally(),
        lastFlushAt: 0,
        failedWrites: 0,
        retryMs: RETRY_INITIAL_MS,
      };
      this.trackers.set(sub.id, t);
    }
    t.generation = Math.max(t.generation, sub.config.generation);
    return t;
  }

  private dropTracker(id: string, t: Tracker): void {
    clearTimeout(t.timer);
    t.timer = undefined;
    if (this.trackers.get(id) === t) this.trackers.delete(id);
  }

  /** Writes now (next tick, so a 410's attempt and its pause go in one write), or within the interval. */
  private flushSoon(t: Tracker, now: boolean): void {
    if (this.closed) return;
    if (t.flushing) {
      t.again = { now: now || (t.again?.now ?? false) };
      return;
    }
    if (now) {
      clearTimeout(t.timer);
      t.timer = setTimeout(() => void this.flush(t), 0);
      return;
    }
    if (t.timer) return;
    const delayMs = Math.max(0, t.lastFlushAt + this.intervalMs - this.now());
    t.timer = setTimeout(() => void this.flush(t), delayMs);
  }

  private flush(t: Tracker): Promise<void> {
    clearTimeout(t.timer);
    t.timer = undefined;
    if (t.flushing) return t.flushing;
    t.flushing = this.write(t).finally(() => {
      t.flushing = undefined;
      const again = t.again;
      t.again = undefined;
      if (again && this.trackers.get(`${t.namespace}/${t.name}`) === t) {
        this.flushSoon(t, again.now);
      }
    });
    return t.flushing;
  }

  private async write(t: Tracker): Promise<void> {
    const { namespace, name } = t;
    const sub = this.o.cache.findSubscription(namespace, name);
    // Left the config: nothing to record (removeSubscription deletes the record).
    if (!sub) return;
    const tally = t.tally;
    const pause = t.pause;
    t.tally = emptyTally();
    t.lastFlushAt = this.now();
    const generation = Math.max(sub.generation, t.generation);
    const autoPauseAfterMs = sub.delivery.autoPauseAfterMs ?? DEFAULT_AUTO_PAUSE_AFTER_MS;
    let before: DeliveryState | undefined;
    try {
      const stored = await updateDeliveryState(
        this.o.kv,
        namespace,
        name,
        (current) => {
          before = current;
          const target = { namespace, name, generation, autoPauseAfterMs };
          return decideNextState(current, tally, pause, target, this.now());
        },
        { known: this.o.view.get(namespace, name) },
      );
      if (t.pause === pause) delete t.pause;
      t.failedWrites = 0;
      t.retryMs = RETRY_INITIAL_MS;
      if (stored) this.o.view.apply(namespace, name, stored);
      this.logTransition(namespace, name, before, stored?.state);
      // The local pause is gone: whatever the record says now holds.
      if (pause) this.emit('change', namespace, name);
    } catch (err) {
      t.tally = combineTallies(tally, t.tally);
      t.failedWrites++;
      this.o.logger[t.failedWrites === 1 || t.failedWrites % 10 === 0 ? 'warn' : 'debug'](
        { err, namespace, subscription: name, failures: t.failedWrites, retryInMs: t.retryMs },
        pause
          ? 'cannot record the pause in the delivery state; retrying (the subscription stays paused here)'
          : 'cannot write the delivery state; retrying',
      );
      if (!this.closed && this.trackers.get(`${namespace}/${name}`) === t) {
        clearTimeout(t.timer);
        t.timer = setTimeout(() => void this.flush(t), t.retryMs);
        t.retryMs = Math.min(t.retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  /** Lifts a pause taken before the subscription's current generation (once per generation). */
  private liftStale(namespace: string, name: string, generation: number): void {
    const key = `${namespace}/${name}@${generation}`;
    if (this.lifting.has(key) || this.closed) return;
    this.lifting.add(key);
    const nowMs = this.now();
    let before: DeliveryState | undefined;
    updateDeliveryState(
      this.o.kv,
      namespace,
      name,
      (current) => {
        before = current;
        if (current?.pausedReason === undefined || isPauseInEffect(current, generation)) {
          return undefined;
        }
        return {
          ...liftPause(current, nowMs),
          generation: Math.max(current.generation, generation),
        };
      },
      { known: this.o.view.get(namespace, name) },
    ).then(
      (stored) => {
        if (stored) this.o.view.apply(namespace, name, stored);
        this.logTransition(namespace, name, before, stored?.state, generation);
      },
      (err: unknown) => {
        // The next look (a reconcile, a write of this subscription) tries again.
        this.lifting.delete(key);
        this.o.logger.warn(
          { err, namespace, subscription: name },
          'cannot lift the pause of an edited subscription; it runs meanwhile',
        );
      },
    );
  }

  private logTransition(
    namespace: string,
    name: string,
    before: DeliveryState | undefined,
    after: DeliveryState | undefined,
    generation?: number,
  ): void {
    if (!after || before === after) return;
    const fields = { namespace, subscription: name };
    if (before?.pausedReason === undefined && after.pausedReason !== undefined) {
      if (after.pausedCode === PauseCode.FailingTooLong) {
        this.o.logger.warn(
          { ...fields, code: after.pausedCode, reason: after.pausedReason },
          'subscription paused: its endpoint has only failed for too long',
        );
      }
    } else if (before?.pausedReason !== undefined && after.pausedReason === undefined) {
      this.o.logger.info(
        { ...fields, generation, pausedGeneration: before.pausedGeneration },
        'subscription resumed: it was edited since the pause',
      );
    }
  }

  private noteStateChange(c: DeliveryStateChange): void {
    this.refreshMetrics(c.namespace, c.name);
    const sub = this.o.cache.findSubscription(c.namespace, c.name);
    const generation = sub?.generation ?? 0;
    const paused = isPauseInEffect(c.state, generation);
    if (isPauseInEffect(c.previous, generation) === paused) return;
    if (sub) {
      const fields = { namespace: c.namespace, subscription: c.name };
      if (paused) {
        this.o.logger.info(
          { ...fields, code: c.state?.pausedCode, reason: c.state?.pausedReason },
          'subscription paused by its endpoint health; not delivering',
        );
      } else this.o.logger.info(fields, 'subscription pause lifted; delivering again');
    }
    this.emit('change', c.namespace, c.name);
  }

  private refreshMetrics(namespace: string, name: string): void {
    const labels = { namespace, subscription: name };
    const state = this.o.view.get(namespace, name)?.state;
    const sub = this.o.cache.findSubscription(namespace, name);
    if (!state || !sub) {
      this.o.metrics.subscriptionPaused.remove(labels);
      this.o.metrics.consecutiveFailures.remove(labels);
      return;
    }
    this.o.metrics.subscriptionPaused.set(labels, isPauseInEffect(state, sub.generation) ? 1 : 0);
    this.o.metrics.consecutiveFailures.set(labels, state.consecutiveFailures);
  }
}

/**
 * Keeps one consume loop per (Subscription, consumer) in line with the live config: starts
 * loops for new subscriptions, updates or restarts them when a subscription changes, stops
 * them when it is removed or paused. Work for one subscription is serialised, so a quick
 * add-change-remove never leaves two loops on one consumer.
 *
 * A restart costs delivery attempts: messages pulled but not started are nak'd, and JetStream
 * counted that delivery already. So a change restarts the loops only when it has to — when the
 * consumers or the concurrency (maxInFlight, ordering) change. Every other change (sink URL,
 * credentials, signing secrets, filters, retry policy, timeout, mode) is swapped into the
 * running loops in place (ConsumeLoop.update): no nak, no delivery count moves.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { ConfigCache } from '../core/config/kv.js';
import type { CompiledSubscription } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import { startConsumeLoop, type ConsumeLoop } from './consume-loop.js';
import { notifyHooks, type DeliveryHooks } from './delivery-hooks.js';
import type { SinkClients } from './deliver.js';
import type { DeliveryLedger } from './ledger.js';
import type { DispatcherMetrics } from './metrics.js';
import { prepareSubscription, SubscriptionNotDeliverableError } from './prepare.js';

export interface SupervisorOptions {
  js: JetStreamClient;
  cache: ConfigCache;
  configKey: Buffer;
  sinks: SinkClients;
  metrics: DispatcherMetrics;
  /** The delivery ledger (startDispatcher always passes one); absent, delivery is at-least-once. */
  ledger?: DeliveryLedger;
  /** Around each attempt (delivery-hooks.ts); told when a subscription's loops stop. */
  hooks?: readonly DeliveryHooks[];
  /**
   * Endpoint health (health.ts): a subscription it holds paused (410, autoPauseAfter) runs on
   * no replica; its events wait in its consumers.
   */
  pauses?: { pausedReasonFor(sub: CompiledSubscription): string | undefined };
  logger: Logger;
  userAgent: string;
  random?: () => number;
}

interface Running {
  /** The config the loops run, as JSON: an identical one changes nothing. */
  fingerprint: string;
  /** What cannot change under a running loop (see restartKeyOf). */
  restartKey: string;
  loops: ConsumeLoop[];
  /** The sink origin the loops deliver to; absent when the subscription is not deliverable. */
  origin?: string;
}

/**
 * The parts of a subscription a running loop cannot take over in place: which consumers it
 * reads (stream, durable) and how many deliveries it runs at once (the pull batch and the
 * slots are sized by it).
 */
function restartKeyOf(sub: CompiledSubscription): string {
  return JSON.stringify({
    consumers: sub.consumers.map((c) => [c.stream, c.durable]),
    maxInFlight: sub.delivery.maxInFlight,
    ordering: sub.delivery.ordering,
  });
}

export class SubscriptionSupervisor {
  private readonly running = new Map<string, Running>();
  private readonly queues = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(private readonly o: SupervisorOptions) {}

  /** Brings one subscription's loops in line with the cache. */
  reconcile(namespace: string, name: string): Promise<void> {
    const id = `${namespace}/${name}`;
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous
      .then(() => this.apply(namespace, name))
      .catch((err: unknown) => {
        this.o.logger.error({ err, namespace, subscription: name }, 'cannot apply subscription');
      });
    this.queues.set(id, next);
    void next.then(() => {
      if (this.queues.get(id) === next) this.queues.delete(id);
    });
    return next;
  }

  /** Reconciles every subscription in the cache and every one still running. */
  async reconcileAll(): Promise<void> {
    const ids = new Map<string, [string, string]>();
    for (const s of this.o.cache.subscriptions.values()) {
      ids.set(`${s.namespace}/${s.name}`, [s.namespace, s.name]);
    }
    for (const id of this.running.keys()) {
      const [namespace = '', name = ''] = id.split('/');
      ids.set(id, [namespace, name]);
    }
    await Promise.all([...ids.values()].map(([ns, name]) => this.reconcile(ns, name)));
  }

  /** Stops every loop (in-flight deliveries finish first). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.reconcileAll();
  }

  private desiredFor(namespace: string, name: string): CompiledSubscription | undefined {
    if (this.stopping) return undefined;
    const sub = this.o.cache.findSubscription(namespace, name);
    return sub && !sub.paused && !this.o.pauses?.pausedReasonFor(sub) ? sub : undefined;
  }

  private async apply(namespace: string, name: string): Promise<void> {
    const id = `${namespace}/${name}`;
    const desired = this.desiredFor(namespace, name);
    const fingerprint = desired ? JSON.stringify(desired) : undefined;
    let current = this.running.get(id);
    // Loops that stopped themselves on a 410 never run again. Health holds the subscription
    // paused from that 410 until the pause is lifted, so getting past desiredFor means it was;
    // without health, only an edit (a new generation) lifts it.
    const selfPaused = current?.loops.some((l) => l.pausedReason !== undefined) === true;
    if (current?.fingerprint === fingerprint && !selfPaused) return;
    const log = this.o.logger.child({ namespace, subscription: name });
    const labels = { namespace, subscription: name };

    if (!desired || !fingerprint) {
      if (current) await this.stopLoops(id, current, log, 'subscription stopped');
      // A removed subscription leaves no label set behind; a paused one reads 0.
      if (this.o.cache.findSubscription(namespace, name))
        this.o.metrics.consumerLoops.set(labels, 0);
      else {
        this.o.metrics.consumerLoops.remove(labels);
        this.o.metrics.inFlight.remove(labels);
      }
      await this.closeUnusedSinks();
      return;
    }
    if (current && selfPaused) {
      const pausedAt = (JSON.parse(current.fingerprint) as CompiledSubscription).generation;
      if (!this.o.pauses && desired.generation <= pausedAt) return;
      await this.stopLoops(id, current, log, 'pause lifted; restarting');
      current = undefined;
    }
    const restartKey = restartKeyOf(desired);

    let prepared;
    try {
      prepared = prepareSubscription(desired, this.o.configKey, this.o.userAgent);
    } catch (err) {
      if (!(err instanceof SubscriptionNotDeliverableError)) throw err;
      if (current) await this.stopLoops(id, current, log, 'subscription stopped');
      // Its events stay in the consumer until the subscription is fixed (or Herald upgraded).
      log.error({ code: err.code, detail: err.message }, 'subscription not started');
      this.running.set(id, { fingerprint, restartKey, loops: [] });
      this.o.metrics.consumerLoops.set(labels, 0);
      await this.closeUnusedSinks();
      return;
    }
    for (const setting of prepared.notEnforced) {
      log.warn({ setting }, 'setting not enforced by this version of the dispatcher');
    }
    const origin = prepared.target.url.origin;

    if (current && current.loops.length > 0 && current.restartKey === restartKey) {
      for (const loop of current.loops) loop.update(prepared);
      this.running.set(id, { fingerprint, restartKey, loops: current.loops, origin });
      log.info({ target: prepared.target.toJSON() }, 'subscription updated in place');
      await this.closeUnusedSinks();
      return;
    }
    if (current) await this.stopLoops(id, current, log, 'subscription changed; restarting');

    const loops = desired.consumers.map((consumer) =>
      startConsumeLoop({
        js: this.o.js,
        subscription: prepared,
        consumer,
        sinks: this.o.sinks,
        metrics: this.o.metrics,
        ...(this.o.ledger ? { ledger: this.o.ledger } : {}),
        ...(this.o.hooks ? { hooks: this.o.hooks } : {}),
        logger: log,
        ...(this.o.random ? { random: this.o.random } : {}),
      }),
    );
    this.running.set(id, { fingerprint, restartKey, loops, origin });
    this.o.metrics.consumerLoops.set(labels, loops.length);
    log.info(
      { consumers: desired.consumers.map((c) => c.stream), target: prepared.target.toJSON() },
      'subscription started',
    );
    await this.closeUnusedSinks();
  }

  private async stopLoops(id: string, current: Running, log: Logger, msg: string): Promise<void> {
    await Promise.all(current.loops.map((l) => l.stop()));
    this.running.delete(id);
    if (current.loops.length > 0) log.info(msg);
    const [namespace = '', name = ''] = id.split('/');
    const removed = !this.o.cache.findSubscription(namespace, name);
    notifyHooks(
      this.o.hooks ?? [],
      (h) => h.subscriptionStopped?.(id, removed),
      (err) => log.error({ err }, 'stop hook failed'),
    );
  }

  /** Closes the connection pools of sink origins no running subscription delivers to. */
  private closeUnusedSinks(): Promise<void> {
    const inUse = new Set<string>();
    for (const r of this.running.values()) if (r.origin && r.loops.length > 0) inUse.add(r.origin);
    return this.o.sinks.closeUnused(inUse);
  }
}

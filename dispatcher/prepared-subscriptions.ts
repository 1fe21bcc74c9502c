/**
 * The live config's subscriptions, prepared for delivery (prepare.ts) on demand, for the loops
 * that serve every subscription at once (dead-letter sink, redrive). Each compiled entry is
 * prepared once: the config cache replaces the object when the entry changes, so the cache
 * here is keyed by object and forgets old versions by itself.
 */
import type { ConfigCache } from '../core/config/kv.js';
import type { CompiledSubscription } from '../core/config/model.js';
import type { DeliveryTarget } from './deliver.js';
import {
  prepareSubscription,
  SubscriptionNotDeliverableError,
  type PreparedSubscription,
} from './prepare.js';

export type SubscriptionLookup =
  | { state: 'missing' }
  | { state: 'paused'; config: CompiledSubscription }
  | {
      state: 'not_deliverable';
      config: CompiledSubscription;
      error: SubscriptionNotDeliverableError;
    }
  | { state: 'ready'; config: CompiledSubscription; prepared: PreparedSubscription };

/** A subscription's dead-letter sink, as a target of its own. */
export type DeadLetterTargetLookup =
  | { state: 'missing' }
  | { state: 'none'; config: CompiledSubscription }
  | {
      state: 'not_deliverable';
      config: CompiledSubscription;
      error: SubscriptionNotDeliverableError;
    }
  | { state: 'ready'; config: CompiledSubscription; target: DeliveryTarget };

export interface PreparedSubscriptionsOptions {
  cache: ConfigCache;
  configKey: Buffer;
  userAgent: string;
  /**
   * Whether a subscription is held back beyond its `paused` flag (e.g. paused by its endpoint
   * health); absent, only `spec.paused` counts.
   */
  isPaused?: (sub: CompiledSubscription) => boolean;
}

type Prepared =
  | { ok: true; prepared: PreparedSubscription }
  | { ok: false; error: SubscriptionNotDeliverableError };
type PreparedTarget =
  { ok: true; target: DeliveryTarget } | { ok: false; error: SubscriptionNotDeliverableError };

export class PreparedSubscriptions {
  private readonly subscriptions = new WeakMap<CompiledSubscription, Prepared>();
  private readonly deadLetterTargets = new WeakMap<CompiledSubscription, PreparedTarget>();

  constructor(private readonly o: PreparedSubscriptionsOptions) {}

  /** The subscription as a normal delivery would run it now. */
  lookup(namespace: string, name: string): SubscriptionLookup {
    const config = this.o.cache.findSubscription(namespace, name);
    if (!config) return { state: 'missing' };
    if (config.paused || this.o.isPaused?.(config)) return { state: 'paused', config };
    let entry = this.subscriptions.get(config);
    if (!entry) {
      entry = prepareOrRefuse(() => ({
        ok: true,
        prepared: prepareSubscription(config, this.o.configKey, this.o.userAgent),
      }));
      this.subscriptions.set(config, entry);
    }
    return entry.ok
      ? { state: 'ready', config, prepared: entry.prepared }
      : { state: 'not_deliverable', config, error: entry.error };
  }

  /** The subscription's dead-letter sink, when it has one (a pause does not stop it). */
  deadLetterTarget(namespace: string, name: string): DeadLetterTargetLookup {
    const config = this.o.cache.findSubscription(namespace, name);
    if (!config) return { state: 'missing' };
    const uri = config.delivery.deadLetterSinkUri;
    if (!uri) return { state: 'none', config };
    let entry = this.deadLetterTargets.get(config);
    if (!entry) {
      entry = prepareOrRefuse(() => ({
        ok: true,
        target: prepareSubscription(
          deadLetterSinkConfig(config, uri),
          this.o.configKey,
          this.o.userAgent,
        ).target,
      }));
      this.deadLetterTargets.set(config, entry);
    }
    return entry.ok
      ? { state: 'ready', config, target: entry.target }
      : { state: 'not_deliverable', config, error: entry.error };
  }
}

function prepareOrRefuse<T extends { ok: true }>(
  prepare: () => T,
): T | { ok: false; error: SubscriptionNotDeliverableError } {
  try {
    return prepare();
  } catch (err) {
    if (err instanceof SubscriptionNotDeliverableError) return { ok: false, error: err };
    throw err;
  }
}

/**
 * The subscription re-aimed at its dead-letter sink, so prepare.ts validates the URL and
 * unseals the signing secrets exactly as for the sink: always binary mode, no handshake (the
 * subscriber named this URL for Herald's failures), and the sink's credentials only when the
 * dead-letter sink has the sink's origin — they were issued for that host, not for any URL.
 */
function deadLetterSinkConfig(config: CompiledSubscription, uri: string): CompiledSubscription {
  const { auth, ...sink } = config.sink;
  return {
    ...config,
    filters: [],
    sink: {
      ...sink,
      uri,
      verification: 'none',
      ...(auth && sameOrigin(config.sink.uri, uri) ? { auth } : {}),
    },
    delivery: { ...config.delivery, mode: 'binary' },
  };
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

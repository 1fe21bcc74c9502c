/**
 * The dispatcher's Prometheus metrics, in a registry it owns (the CLI serves it on /metrics;
 * several deployables in one process each keep their own).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const DeliveryOutcome = {
  Delivered: 'delivered',
  Retried: 'retried',
  DeadLettered: 'dead_lettered',
  /** 410 Gone: the event is kept and the subscription paused. */
  Paused: 'paused',
} as const;
export type DeliveryOutcome = (typeof DeliveryOutcome)[keyof typeof DeliveryOutcome];

export const SkipReason = {
  /** The subscription's filters did not match: acked without delivery. */
  Filtered: 'filtered',
  /** The stored message is not a CloudEvent: terminated. */
  Undecodable: 'undecodable',
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export interface DispatcherMetrics {
  registry: Registry;
  /** One per attempt: namespace, subscription, outcome, status_class (2xx…5xx, timeout, network, internal). */
  deliveries: Counter<'namespace' | 'subscription' | 'outcome' | 'status_class'>;
  /** Seconds from request start to response headers (or failure). */
  deliveryDuration: Histogram<'namespace' | 'subscription' | 'status_class'>;
  skipped: Counter<'namespace' | 'subscription' | 'reason'>;
  /** Running consume loops per subscription (one per EventType); 0 once stopped. */
  consumerLoops: Gauge<'namespace' | 'subscription'>;
  /** Events being handled now per subscription (waiting for a rate limit, POSTing, settling). */
  inFlight: Gauge<'namespace' | 'subscription'>;
  /** 1 while endpoint health holds the subscription paused (410, or autoPauseAfter); else 0. */
  subscriptionPaused: Gauge<'namespace' | 'subscription'>;
  /** Failed attempts since the last success, from the shared delivery state. */
  consecutiveFailures: Gauge<'namespace' | 'subscription'>;
  /** Attempts-log records by result: published, failed, dropped (attempts-log.ts). */
  attemptRecords: Counter<'result'>;
}

export function createDispatcherMetrics(): DispatcherMetrics {
  const registry = new Registry();
  return {
    registry,
    deliveries: new Counter({
      name: 'herald_dispatcher_deliveries_total',
      help: 'Delivery attempts by outcome and status class',
      labelNames: ['namespace', 'subscription', 'outcome', 'status_class'],
      registers: [registry],
    }),
    deliveryDuration: new Histogram({
      name: 'herald_dispatcher_delivery_duration_seconds',
      help: 'Duration of one delivery attempt',
      labelNames: ['namespace', 'subscription', 'status_class'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    skipped: new Counter({
      name: 'herald_dispatcher_events_skipped_total',
      help: 'Events settled without a delivery attempt (filtered out, or not a CloudEvent)',
      labelNames: ['namespace', 'subscription', 'reason'],
      registers: [registry],
    }),
    consumerLoops: new Gauge({
      name: 'herald_dispatcher_consumer_loops',
      help: 'Consume loops running per subscription',
      labelNames: ['namespace', 'subscription'],
      registers: [registry],
    }),
    inFlight: new Gauge({
      name: 'herald_dispatcher_in_flight',
      help: 'Events being handled per subscription (at most maxInFlight per consume loop)',
      labelNames: ['namespace', 'subscription'],
      registers: [registry],
    }),
    subscriptionPaused: new Gauge({
      name: 'herald_dispatcher_subscription_paused',
      help: 'Whether endpoint health holds the subscription paused (sink answered 410, or only failures for autoPauseAfter)',
      labelNames: ['namespace', 'subscription'],
      registers: [registry],
    }),
    consecutiveFailures: new Gauge({
      name: 'herald_dispatcher_consecutive_failures',
      help: 'Failed delivery attempts since the last success, per subscription',
      labelNames: ['namespace', 'subscription'],
      registers: [registry],
    }),
    attemptRecords: new Counter({
      name: 'herald_dispatcher_attempt_records_total',
      help: 'Attempt-log records for HERALD_ATTEMPTS: published, failed, or dropped (too many awaiting acknowledgement)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}

/**
 * The broker's Prometheus metrics, in a registry of its own (several brokers may share a
 * process in tests). Label values come only from the config (namespace, producer, registered
 * types) or fixed sets, never from client input, so cardinality stays bounded.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Label value for anything the config does not name (unauthenticated, unregistered type). */
export const UNKNOWN_LABEL = 'unknown';

/** Outcomes of one event besides the problem kinds' own (see ProblemKind.outcome). */
export const EventOutcome = {
  Accepted: 'accepted',
  Duplicate: 'duplicate',
  /** A valid event not stored because another event of its batch was refused. */
  BatchRejected: 'batch_rejected',
} as const;

/** Routes as histogram labels: fixed, whatever path the client asked for. */
export const RouteLabel = {
  Events: '/events',
  Healthz: '/healthz',
  Readyz: '/readyz',
  Metrics: '/metrics',
  EventTypes: '/eventtypes',
  EventType: '/eventtypes/{ns}/{name}',
  AsyncApi: '/asyncapi.json',
  Other: 'other',
} as const;
export type RouteLabel = (typeof RouteLabel)[keyof typeof RouteLabel];

/** How a request body arrived, as a label: a fixed set. */
export const TransportLabel = { Http: 'http', Grpc: 'grpc' } as const;
export type TransportLabel = (typeof TransportLabel)[keyof typeof TransportLabel];

export interface BrokerMetrics {
  readonly registry: Registry;
  recordEvent(namespace: string, type: string, producer: string, outcome: string): void;
  observeRequest(route: RouteLabel, method: string, status: number, seconds: number): void;
  /** Events refused by the producer's token bucket (also counted in events_total). */
  recordRateLimited(namespace: string, producer: string, events: number): void;
  /** Size of a request body read in full (one per request, a batch included). */
  observeBodySize(transport: TransportLabel, bytes: number): void;
  /** Time from handing an event to JetStream to its PubAck (acknowledged publishes only). */
  observePublish(seconds: number): void;
}

const KNOWN_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);

export function createBrokerMetrics(): BrokerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const events = new Counter({
    name: 'herald_broker_events_total',
    help: 'Events received by the broker, by namespace, CloudEvents type, producer and outcome',
    labelNames: ['namespace', 'type', 'producer', 'outcome'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'herald_broker_http_request_duration_seconds',
    help: 'HTTP request duration, from the request line to the end of the response',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const rateLimited = new Counter({
    name: 'herald_broker_rate_limited_events_total',
    help: "Events refused by their producer's rate limit (this replica's token bucket)",
    labelNames: ['namespace', 'producer'] as const,
    registers: [registry],
  });
  const bodySize = new Histogram({
    name: 'herald_broker_request_body_bytes',
    help: 'Size of request bodies read in full (a batch counts once)',
    labelNames: ['transport'] as const,
    buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304],
    registers: [registry],
  });
  const publish = new Histogram({
    name: 'herald_broker_jetstream_publish_duration_seconds',
    help: 'Time from handing an event to JetStream to its PubAck (acknowledged publishes only)',
    buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  return {
    registry,
    recordEvent(namespace, type, producer, outcome) {
      events.inc({ namespace, type, producer, outcome });
    },
    observeRequest(route, method, status, seconds) {
      duration.observe(
        { route, method: KNOWN_METHODS.has(method) ? method : 'other', status },
        seconds,
      );
    },
    recordRateLimited(namespace, producer, count) {
      rateLimited.inc({ namespace, producer }, count);
    },
    observeBodySize(transport, bytes) {
      bodySize.observe({ transport }, bytes);
    },
    observePublish(seconds) {
      publish.observe(seconds);
    },
  };
}

/**
 * The broker's Prometheus metrics, in a registry of its own (several brokers may share a
 * process in tests). Label values come only from the config (namespace, producer, registered
 * types) or fixed sets, never from client input, so cardinality stays bounded.
 */
import { Counter, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

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

/** Events of one label set not yet handed to prom-client. */
interface EventCount {
  labels: { namespace: string; type: string; producer: string; outcome: string };
  pending: number;
}

const KNOWN_METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS']);

export function createBrokerMetrics(): BrokerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Counted here per label set and handed to prom-client when it collects: one nested-map
  // lookup per event instead of prom-client's label hashing (~0.25 µs an event).
  const eventCounts = new Map<string, Map<string, Map<string, Map<string, EventCount>>>>();
  new Counter({
    name: 'herald_broker_events_total',
    help: 'Events received by the broker, by namespace, CloudEvents type, producer and outcome',
    labelNames: ['namespace', 'type', 'producer', 'outcome'] as const,
    registers: [registry],
    collect() {
      for (const byType of eventCounts.values())
        for (const byProducer of byType.values())
          for (const byOutcome of byProducer.values())
            for (const count of byOutcome.values()) {
              if (count.pending === 0) continue;
              this.inc(count.labels, count.pending);
              count.pending = 0;
            }
    },
  });
  const duration = new HotHistogram(registry, {
    name: 'herald_broker_http_request_duration_seconds',
    help: 'HTTP request duration, from the request line to the end of the response',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });
  const rateLimited = new Counter({
    name: 'herald_broker_rate_limited_events_total',
    help: "Events refused by their producer's rate limit (this replica's token bucket)",
    labelNames: ['namespace', 'producer'] as const,
    registers: [registry],
  });
  const bodySize = new HotHistogram(registry, {
    name: 'herald_broker_request_body_bytes',
    help: 'Size of request bodies read in full (a batch counts once)',
    labelNames: ['transport'],
    buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304],
  });
  const publish = new HotHistogram(registry, {
    name: 'herald_broker_jetstream_publish_duration_seconds',
    help: 'Time from handing an event to JetStream to its PubAck (acknowledged publishes only)',
    labelNames: [],
    buckets: [0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  }).seriesOf();
  return {
    registry,
    recordEvent(namespace, type, producer, outcome) {
      let byType = eventCounts.get(namespace);
      if (byType === undefined) eventCounts.set(namespace, (byType = new Map()));
      let byProducer = byType.get(type);
      if (byProducer === undefined) byType.set(type, (byProducer = new Map()));
      let byOutcome = byProducer.get(producer);
      if (byOutcome === undefined) byProducer.set(producer, (byOutcome = new Map()));
      let count = byOutcome.get(outcome);
      if (count === undefined) {
        count = { labels: { namespace, type, producer, outcome }, pending: 0 };
        byOutcome.set(outcome, count);
      }
      count.pending++;
    },
    observeRequest(route, method, status, seconds) {
      duration
        .seriesOf(route, KNOWN_METHODS.has(method) ? method : 'other', status)
        .observe(seconds);
    },
    recordRateLimited(namespace, producer, count) {
      rateLimited.inc({ namespace, producer }, count);
    },
    observeBodySize(transport, bytes) {
      bodySize.seriesOf(transport).observe(bytes);
    },
    observePublish(seconds) {
      publish.observe(seconds);
    },
  };
}

/** One label set of a HotHistogram. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Record<string, string | number>,
    private readonly upperBounds: readonly number[],
  ) {
    this.counts = new Array<number>(upperBounds.length + 1).fill(0);
  }

  observe(value: number): void {
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
    this.count++;
  }
}

interface HistogramValue {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
}

/**
 * A histogram for the hot path, registered in a prom-client registry and exposed exactly as
 * prom-client's Histogram is (series in first-use order; `le` first, then the labels; the
 * `_bucket`, `_sum` and `_count` lines). prom-client hashes the label values into a string on
 * every observe (0.1–0.35 µs); here a series is found through one map per label and kept.
 */
export class HotHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly labelNames: readonly string[];
  private readonly upperBounds: readonly number[];
  private readonly root = new Map<string | number, unknown>();
  private readonly all: HistogramSeries[] = [];

  constructor(
    registry: Registry,
    config: { name: string; help: string; labelNames: readonly string[]; buckets: number[] },
  ) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames;
    this.upperBounds = [...config.buckets].sort((a, b) => a - b);
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of these label values, in `labelNames` order (created on first use). */
  seriesOf(...values: (string | number)[]): HistogramSeries {
    let level: Map<string | number, unknown> = this.root;
    const last = values.length - 1;
    for (let i = 0; i < last; i++) {
      const value = values[i] as string | number;
      let next = level.get(value) as Map<string | number, unknown> | undefined;
      if (next === undefined) level.set(value, (next = new Map()));
      level = next;
    }
    const key = last < 0 ? '' : (values[last] as string | number);
    let series = level.get(key) as HistogramSeries | undefined;
    if (series === undefined) {
      const labels: Record<string, string | number> = {};
      this.labelNames.forEach((name, i) => (labels[name] = values[i] as string | number));
      series = new HistogramSeries(labels, this.upperBounds);
      level.set(key, series);
      this.all.push(series);
    }
    return series;
  }

  /** prom-client's Metric.get(): the values in its format. */
  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: HistogramValue[];
  }> {
    const values: HistogramValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const series of this.all) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += series.counts[i] as number;
        values.push({ labels: { le, ...series.labels }, value: cumulative, metricName: bucket });
      });
      values.push(
        { labels: { le: '+Inf', ...series.labels }, value: series.count, metricName: bucket },
        { labels: series.labels, value: series.sum, metricName: `${this.name}_sum` },
        { labels: series.labels, value: series.count, metricName: `${this.name}_count` },
      );
    }
    const { name, help, type, aggregator } = this;
    return Promise.resolve({ name, help, type, aggregator, values });
  }

  /** Zeroes every series (kept: callers may hold them). */
  reset(): void {
    for (const series of this.all) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}

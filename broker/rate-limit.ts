/**
 * Per-producer token buckets (DESIGN.md §5). A bucket holds `burst` tokens, refills at
 * `eventsPerSecond`, and every event costs one token (a batch costs one per event).
 *
 * The buckets live in memory, but with N live broker replicas (core/replica-membership.ts)
 * each holds 1/N of the rate and of the burst, so the producer's total stays near its limit
 * when the balancer spreads its requests evenly. A full share admits any batch up to the
 * whole burst (the bucket then owes tokens, repaid at the share's rate): a batch the limit
 * allows is never refused for good just because the burst was divided.
 */
import type { CompiledProducer } from '../core/config/model.js';
import { ProblemError, ProblemKind } from './problems.js';

/** Milliseconds on a monotonic clock; injectable so tests need not sleep. */
export type Clock = () => number;

export const DEFAULT_MAX_BUCKETS = 10_000;

export interface RateLimiterOptions {
  now?: Clock;
  /** Buckets kept at most; the oldest is dropped past it (it then starts full again). */
  maxBuckets?: number;
}

interface Bucket {
  /** Below 0 after a batch larger than the share: owed tokens. */
  tokens: number;
  updatedMs: number;
  /** As configured (the producer's whole limit). */
  eventsPerSecond: number;
  burst: number;
  /** This replica's share: eventsPerSecond / replicas, burst / replicas. */
  shareRate: number;
  shareBurst: number;
  replicas: number;
}

/** `take` answers this when the cost can never fit: a batch larger than the burst. */
export const NEVER = Number.POSITIVE_INFINITY;

export class ProducerRateLimiter {
  private readonly now: Clock;
  private readonly maxBuckets: number;
  /** Buckets by `<namespace>/<name>`: they outlive config entries whose limit did not change. */
  private readonly byKey = new Map<string, Bucket>();
  /** The same buckets by config entry: the hot path's lookup, with no key string to build. */
  private readonly byEntry = new WeakMap<CompiledProducer, Bucket>();
  private replicas = 1;

  constructor(options: RateLimiterOptions = {}) {
    this.now = options.now ?? (() => performance.now());
    this.maxBuckets = options.maxBuckets ?? DEFAULT_MAX_BUCKETS;
  }

  /** Live broker replicas sharing each limit (1 = this one applies it whole). */
  get replicaCount(): number {
    return this.replicas;
  }

  /** Re-divides every limit; each bucket takes its new share on its next event. */
  setReplicaCount(count: number): void {
    this.replicas = Math.max(1, Math.floor(count));
  }

  /** Number of buckets held. */
  get size(): number {
    return this.byKey.size;
  }

  /**
   * Takes `cost` tokens from the producer's bucket. Answers 0 when they were taken, else the
   * whole seconds (≥ 1) until they would be there, or NEVER when `cost` exceeds the burst.
   * Producers without a rate limit always get 0.
   */
  take(producer: CompiledProducer, cost: number): number {
    const limit = producer.rateLimit;
    if (limit === undefined || cost <= 0) return 0;
    const bucket = this.byEntry.get(producer) ?? this.findBucket(producer, limit);
    if (cost > bucket.burst) return NEVER;
    // The new share counts for the whole time since the last event: a replica that just left
    // is not waited off.
    if (bucket.replicas !== this.replicas) this.reshare(bucket);
    const now = this.now();
    const elapsedMs = now - bucket.updatedMs;
    if (elapsedMs > 0) {
      const refilled = bucket.tokens + (elapsedMs * bucket.shareRate) / 1000;
      bucket.tokens = refilled < bucket.shareBurst ? refilled : bucket.shareBurst;
      bucket.updatedMs = now;
    }
    // Alone, need = cost (cost ≤ burst = shareBurst): exactly the plain token bucket.
    const need = cost < bucket.shareBurst ? cost : bucket.shareBurst;
    if (bucket.tokens >= need) {
      bucket.tokens -= cost;
      return 0;
    }
    return Math.max(1, Math.ceil((need - bucket.tokens) / bucket.shareRate));
  }

  /** A new replica count: the share changes; tokens earned so far are kept, up to it. */
  private reshare(bucket: Bucket): void {
    bucket.replicas = this.replicas;
    bucket.shareRate = bucket.eventsPerSecond / this.replicas;
    bucket.shareBurst = bucket.burst / this.replicas;
    if (bucket.tokens > bucket.shareBurst) bucket.tokens = bucket.shareBurst;
  }

  /** Drops the bucket of a producer that left the config. */
  forget(namespace: string, name: string): void {
    this.byKey.delete(`${namespace}/${name}`);
  }

  /** The bucket for a config entry seen for the first time: kept when the limit is unchanged. */
  private findBucket(
    producer: CompiledProducer,
    limit: NonNullable<CompiledProducer['rateLimit']>,
  ): Bucket {
    const key = `${producer.namespace}/${producer.name}`;
    const burst = burstOf(limit);
    let bucket = this.byKey.get(key);
    if (
      bucket === undefined ||
      bucket.eventsPerSecond !== limit.eventsPerSecond ||
      bucket.burst !== burst
    ) {
      bucket = {
        tokens: burst / this.replicas,
        updatedMs: this.now(),
        eventsPerSecond: limit.eventsPerSecond,
        burst,
        shareRate: limit.eventsPerSecond / this.replicas,
        shareBurst: burst / this.replicas,
        replicas: this.replicas,
      };
      this.byKey.set(key, bucket);
      if (this.byKey.size > this.maxBuckets) {
        const oldest = this.byKey.keys().next().value as string;
        this.byKey.delete(oldest);
      }
    }
    this.byEntry.set(producer, bucket);
    return bucket;
  }
}

/** The bucket size: the configured burst, else one second's worth (the operator's default). */
function burstOf(limit: NonNullable<CompiledProducer['rateLimit']>): number {
  return limit.burst > 0 ? limit.burst : Math.max(1, Math.ceil(limit.eventsPerSecond));
}

/**
 * The refusal for a `take` that did not answer 0: 429 with Retry-After, or 413
 * batch-too-large when the batch can never fit in the bucket (retrying would not help).
 */
export function buildRateLimitProblem(
  producer: CompiledProducer,
  cost: number,
  waitSeconds: number,
): ProblemError {
  const eventsPerSecond = producer.rateLimit?.eventsPerSecond ?? 0;
  const burst = producer.rateLimit === undefined ? 0 : burstOf(producer.rateLimit);
  const id = `${producer.namespace}/${producer.name}`;
  if (waitSeconds === NEVER) {
    return new ProblemError(
      ProblemKind.BatchTooLarge,
      `A batch of ${cost} events exceeds the burst of producer "${id}" (${burst} events); send at most ${burst} events per request.`,
      {
        extensions: { events: cost, maxEvents: burst },
        reason: `batch of ${cost} events over the burst of ${burst}`,
      },
    );
  }
  return new ProblemError(
    ProblemKind.RateLimited,
    `Producer "${id}" may publish ${eventsPerSecond} events per second (burst ${burst}); retry in ${waitSeconds} s.`,
    {
      extensions: {
        eventsPerSecond,
        burst,
        retryAfter: waitSeconds,
      },
      headers: { 'retry-after': String(waitSeconds) },
      reason: `rate limited (${cost} event${cost === 1 ? '' : 's'})`,
    },
  );
}

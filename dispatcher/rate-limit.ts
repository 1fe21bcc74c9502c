/**
 * Per-subscription delivery rate limit (`spec.delivery.rateLimit.eventsPerSecond`, lowered by a
 * `WebHook-Allowed-Rate` the sink granted in the validation handshake): a token bucket per
 * subscription, shared by all its consume loops in this dispatcher. Each attempt (a POST; a
 * retry is one too) takes a token before it starts.
 *
 * The bucket holds one second's worth of tokens (at least 1) and starts full: after a quiet
 * spell a sink may get `eventsPerSecond` requests at once, then one every 1/eventsPerSecond s.
 * Over any window of T seconds a sink sees at most rate × (T + 1) attempts. A burst of one
 * second is what Convoy's limiter allows too, and it keeps the achieved rate close to the
 * configured one when timers fire late on a busy machine (a bucket of 1 would lose that time).
 *
 * Shared by the replicas: with N live dispatchers (core/replica-membership.ts) each bucket runs
 * at rate / N with the burst of that rate, since JetStream spreads a backlog over every replica
 * pulling it (docs/delivery.md "Rate limit"). Waiting attempts queue in FIFO order behind one
 * timer per bucket, never one per message.
 */
import type { DeliveryHooks } from './delivery-hooks.js';
import type { PreparedSubscription } from './prepare.js';

/** Time and one-shot timers; injectable so unit tests need not sleep. */
export interface LimiterClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const systemClock: LimiterClock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** The bucket size for a rate: one second's worth, at least one token. */
export function burstFor(eventsPerSecond: number): number {
  return Math.max(1, Math.floor(eventsPerSecond));
}

interface Waiter {
  resolve: () => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

// Floating-point refills land a hair under a whole token when the timer fires exactly on time.
const EPSILON = 1e-9;

/** A token bucket whose takers wait in line (FIFO) instead of being refused. */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  private readonly queue: Waiter[] = [];
  private timer: unknown;
  private timerSet = false;

  constructor(
    private rate: number,
    private readonly clock: LimiterClock = systemClock,
    private burst = burstFor(rate),
  ) {
    this.tokens = burst;
    this.updatedAt = clock.now();
  }

  get eventsPerSecond(): number {
    return this.rate;
  }

  /** Attempts waiting for a token. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Takes a token: undefined when one was there (no promise, no tick lost on the hot path),
   * else a promise that resolves when this taker's turn comes, or rejects with the signal's
   * reason once it aborts (the token is not taken then).
   */
  take(signal?: AbortSignal): Promise<void> | undefined {
    if (this.queue.length === 0) {
      this.refill();
      if (this.tokens >= 1 - EPSILON) {
        this.tokens -= 1;
        return undefined;
      }
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal?.reason);
          // The next in line may be due now; else the timer is for nobody.
          this.serve();
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.schedule();
    });
  }

  /** A new rate (and its burst): tokens earned so far are kept, up to the new burst. */
  setRate(eventsPerSecond: number, burst = burstFor(eventsPerSecond)): void {
    this.refill();
    this.rate = eventsPerSecond;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
    this.clearTimer();
    this.serve();
  }

  /** Lets every waiter through at once (the limit was lifted) and stops the timer. */
  releaseAll(): void {
    this.clearTimer();
    for (const w of this.queue.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
  }

  private refill(): void {
    const now = this.clock.now();
    const elapsed = now - this.updatedAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.updatedAt = now;
    }
  }

  /** Hands out the tokens that are there, in order, then sets the timer for the next one. */
  private serve(): void {
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1 - EPSILON) {
      this.tokens -= 1;
      const w = this.queue.shift() as Waiter;
      w.signal?.removeEventListener('abort', w.onAbort);
      w.resolve();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.queue.length === 0) {
      this.clearTimer();
      return;
    }
    if (this.timerSet) return;
    const ms = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
    this.timerSet = true;
    this.timer = this.clock.setTimer(() => {
      this.timerSet = false;
      this.serve();
    }, ms);
  }

  private clearTimer(): void {
    if (!this.timerSet) return;
    this.clock.clearTimer(this.timer);
    this.timerSet = false;
  }
}

export interface RateLimitHookOptions {
  /**
   * A further cap in events per second for a subscription, e.g. the rate its sink granted in
   * the validation handshake (handshake.ts); undefined = none. Read before every attempt.
   */
  capOf?: (sub: PreparedSubscription) => number | undefined;
  clock?: LimiterClock;
}

/** The rate a subscription's attempts are held to: the lower of its limit and the cap. */
export function effectiveRateOf(
  configured: number | undefined,
  cap: number | undefined,
): number | undefined {
  if (configured === undefined) return cap;
  if (cap === undefined) return configured;
  return Math.min(configured, cap);
}

/**
 * The rate limit as a delivery hook: beforeAttempt waits for the subscription's token.
 * Subscriptions without a limit pass straight through (no bucket, no promise).
 */
export class RateLimitHook implements DeliveryHooks {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly clock: LimiterClock;
  private replicas = 1;

  constructor(private readonly options: RateLimitHookOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /** The rate (events per second) `sub` is held to now; undefined = unlimited. */
  rateOf(sub: PreparedSubscription): number | undefined {
    return effectiveRateOf(
      sub.config.delivery.rateLimit?.eventsPerSecond,
      this.options.capOf?.(sub),
    );
  }

  /** Live dispatchers sharing each rate (1 = this one applies it whole). */
  get replicaCount(): number {
    return this.replicas;
  }

  /** Re-divides every rate, for the attempts waiting now too. */
  setReplicaCount(count: number): void {
    const next = Math.max(1, Math.floor(count));
    if (next === this.replicas) return;
    const previous = this.replicas;
    this.replicas = next;
    for (const bucket of this.buckets.values()) {
      bucket.setRate((bucket.eventsPerSecond * previous) / next);
    }
  }

  beforeAttempt(sub: PreparedSubscription, signal: AbortSignal): Promise<void> | undefined {
    const whole = this.rateOf(sub);
    const rate = whole === undefined ? undefined : whole / this.replicas;
    let bucket = this.buckets.get(sub.id);
    if (rate === undefined || !(rate > 0)) {
      if (bucket) {
        this.buckets.delete(sub.id);
        bucket.releaseAll();
      }
      return undefined;
    }
    if (!bucket) {
      bucket = new TokenBucket(rate, this.clock);
      this.buckets.set(sub.id, bucket);
    } else if (bucket.eventsPerSecond !== rate) {
      bucket.setRate(rate);
    }
    return bucket.take(signal);
  }

  /**
   * A stopped subscription keeps its bucket (a restart or a pause gets no fresh burst); a
   * removed one drops it. Its waiters were aborted by the loops' stop already.
   */
  subscriptionStopped(id: string, removed: boolean): void {
    if (!removed) return;
    this.buckets.get(id)?.releaseAll();
    this.buckets.delete(id);
  }

  /** Stops every bucket's timer (the dispatcher is stopping). */
  close(): void {
    for (const b of this.buckets.values()) b.releaseAll();
    this.buckets.clear();
  }
}

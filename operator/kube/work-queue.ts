/**
 * A work queue keyed by object, as client-go's rate-limited queue: a key waits at most once
 * (adding it again while it waits changes nothing), a key being processed is never handed to
 * a second worker (added meanwhile, it runs once more afterwards), failures back off per key
 * (exponentially, until forgotten), and delayed adds keep only the earliest time.
 */

export interface WorkQueueOptions {
  /** First backoff after a failure (default 500 ms); doubles per consecutive failure. */
  baseDelayMs?: number;
  /** Longest backoff (default 5 min). */
  maxDelayMs?: number;
}

/** What a reconcile asks for once it succeeded: nothing, or to run again after a while. */
export interface ReconcileOutcome {
  requeueAfterMs?: number;
  /** Run again soon (one change per pass, NACK style): with the per-key backoff reset. */
  requeue?: boolean;
}

export type ReconcileFn = (key: string) => Promise<ReconcileOutcome | void>;

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
  }

  /** Keys waiting (not counting those being processed or scheduled for later). */
  get depth(): number {
    return this.ready.length;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return; // done() queues it again
    const waiter = this.waiters.shift();
    if (waiter) waiter(key);
    else this.ready.push(key);
  }

  /** Adds the key after `delayMs`; an earlier pending time for the same key wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Adds the key after its backoff, which doubles with each call until forget(). */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delayMs = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(n, 30));
    this.addAfter(key, delayMs);
    return delayMs;
  }

  /** Clears the key's failure count (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once shutting down. */
  async get(): Promise<string | undefined> {
    let key = this.ready.shift();
    if (key === undefined) {
      if (this.shuttingDown) return undefined;
      key = await new Promise<string | undefined>((resolve) => this.waiters.push(resolve));
      if (key === undefined) return undefined;
    }
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  /** Marks the key processed; if it was added meanwhile, it waits again. */
  done(key: string): void {
    this.processing.delete(key);
    if (!this.dirty.has(key) || this.shuttingDown) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter(key);
    else this.ready.push(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}

export interface WorkersOptions {
  workers: number;
  reconcile: ReconcileFn;
  /** Told of every failure with the backoff chosen (for logs and metrics). */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
  /** Told of every finished pass (for metrics). */
  onDone?: (key: string, ok: boolean, seconds: number) => void;
}

/**
 * Runs `workers` loops over the queue until it shuts down; resolves when all have finished
 * their current key. A thrown error backs the key off; a success forgets its failures.
 */
export async function runWorkers(queue: WorkQueue, options: WorkersOptions): Promise<void> {
  const worker = async (): Promise<void> => {
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = performance.now();
      let ok = true;
      try {
        const outcome = await options.reconcile(key);
        queue.forget(key);
        if (outcome?.requeue) queue.add(key);
        else if (outcome?.requeueAfterMs !== undefined) {
          queue.addAfter(key, outcome.requeueAfterMs);
        }
      } catch (err) {
        ok = false;
        const retryInMs = queue.addRateLimited(key);
        options.onError?.(key, err, retryInMs);
      } finally {
        queue.done(key);
        options.onDone?.(key, ok, (performance.now() - started) / 1000);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.workers) }, worker));
}

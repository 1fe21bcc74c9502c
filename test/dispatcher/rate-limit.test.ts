/**
 * The per-subscription token bucket on an injected clock: how many attempts start when, in
 * which order, and what aborting or changing the rate does. No real time passes.
 */
import { strict as assert } from 'node:assert';
import { prepareSubscription } from '../../dispatcher/prepare.js';
import {
  burstFor,
  RateLimitHook,
  TokenBucket,
  type LimiterClock,
} from '../../dispatcher/rate-limit.js';
import { buildSubscription } from './support.js';

/** A manual clock: timers fire only when the test advances time. */
class FakeClock implements LimiterClock {
  private t = 0;
  private nextId = 1;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** Moves time forward by `ms`, firing due timers in order (and those they set). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, t]) => t.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = Math.max(this.t, due[1].at);
      due[1].fn();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Starts `n` takers; returns the order in which they got through (by index). */
function startTakers(bucket: TokenBucket, n: number, signals: AbortSignal[] = []): number[] {
  const passed: number[] = [];
  for (let i = 0; i < n; i++) {
    const p = bucket.take(signals[i]);
    if (p === undefined) passed.push(i);
    else p.then(() => passed.push(i)).catch(() => undefined);
  }
  return passed;
}

describe('rate limit: token bucket', () => {
  it('lets a burst of one second’s worth through at once, then one every 1/rate s, in order', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(10, clock);
    const passed = startTakers(bucket, 25);
    await flush();
    assert.deepEqual(passed, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the burst (10) goes at once');
    assert.equal(bucket.waiting, 15);
    await clock.advance(99);
    assert.equal(passed.length, 10, 'no token before 100 ms');
    await clock.advance(1);
    assert.equal(passed.length, 11);
    await clock.advance(1_400);
    assert.deepEqual(
      passed,
      Array.from({ length: 25 }, (_, i) => i),
      'every taker in FIFO order',
    );
    assert.equal(clock.timers.size, 0, 'no timer left once nobody waits');
  });

  it('never holds more than one timer, however many attempts wait', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(2, clock);
    startTakers(bucket, 200);
    await flush();
    assert.equal(bucket.waiting, 198);
    assert.equal(clock.timers.size, 1);
    await clock.advance(10_000);
    assert.equal(clock.timers.size, 1);
    assert.equal(bucket.waiting, 178);
  });

  it('holds any window of T seconds to at most rate × (T + 1) starts', async () => {
    const clock = new FakeClock();
    const rate = 5;
    const bucket = new TokenBucket(rate, clock);
    const times: number[] = [];
    for (let i = 0; i < 60; i++) {
      const p = bucket.take();
      if (p === undefined) times.push(clock.now());
      else void p.then(() => times.push(clock.now()));
    }
    await clock.advance(20_000);
    assert.equal(times.length, 60);
    for (let i = 0; i < times.length; i++) {
      for (let j = i; j < times.length; j++) {
        const windowS = ((times[j] as number) - (times[i] as number)) / 1000;
        assert.ok(j - i + 1 <= rate * (windowS + 1) + 1e-9, `${j - i + 1} starts in ${windowS} s`);
      }
    }
  });

  it('an aborted waiter leaves the line without using a token', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1, clock);
    const aborts = [new AbortController(), new AbortController(), new AbortController()];
    const passed = startTakers(
      bucket,
      3,
      aborts.map((a) => a.signal),
    );
    await flush();
    assert.deepEqual(passed, [0]);
    const rejected = bucket.take(aborts[1]!.signal);
    aborts[1]!.abort(new Error('loop stopping'));
    await assert.rejects(Promise.resolve(rejected), /loop stopping/);
    await clock.advance(1_000);
    assert.deepEqual(passed, [0, 2], 'the next in line got the token');
    assert.equal(clock.timers.size, 0);
  });

  it('a new rate applies to those already waiting', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1, clock);
    const passed = startTakers(bucket, 6);
    await flush();
    assert.equal(passed.length, 1);
    bucket.setRate(4);
    await clock.advance(500);
    assert.equal(passed.length, 3, 'two more at 4/s in 500 ms');
    bucket.setRate(1);
    await clock.advance(900);
    assert.equal(passed.length, 3);
    await clock.advance(100);
    assert.equal(passed.length, 4);
  });

  it('burst is one second’s worth, at least one', () => {
    assert.equal(burstFor(50), 50);
    assert.equal(burstFor(1), 1);
    assert.equal(burstFor(0.5), 1);
  });
});

describe('rate limit: delivery hook', () => {
  const key = Buffer.alloc(32, 7);
  const prepared = (name: string, eventsPerSecond?: number) =>
    prepareSubscription(
      buildSubscription('shop', name, 'https://sink.example/hook', {
        ...(eventsPerSecond !== undefined && { delivery: { rateLimit: { eventsPerSecond } } }),
      }),
      key,
      'Herald/test',
    );

  it('lets subscriptions without a limit through at once', () => {
    const hook = new RateLimitHook({ clock: new FakeClock() });
    const sub = prepared('free');
    for (let i = 0; i < 1_000; i++) {
      assert.equal(hook.beforeAttempt(sub, new AbortController().signal), undefined);
    }
    assert.equal(hook.rateOf(sub), undefined);
  });

  it('shares one bucket between the loops of a subscription, not between subscriptions', async () => {
    const clock = new FakeClock();
    const hook = new RateLimitHook({ clock });
    const a = prepared('a', 2);
    const aAgain = prepared('a', 2); // another loop's (or an updated) copy of the same one
    const b = prepared('b', 2);
    const signal = new AbortController().signal;
    assert.equal(hook.beforeAttempt(a, signal), undefined);
    assert.equal(hook.beforeAttempt(aAgain, signal), undefined);
    const third = hook.beforeAttempt(a, signal);
    assert.ok(third instanceof Promise, 'the third attempt of a waits');
    assert.equal(hook.beforeAttempt(b, signal), undefined, 'b has its own bucket');
    let done = false;
    void third.then(() => (done = true));
    await clock.advance(499);
    assert.equal(done, false);
    await clock.advance(1);
    assert.equal(done, true);
  });

  it('divides the rate among the live dispatchers, and takes the whole back when alone', async () => {
    const clock = new FakeClock();
    const hook = new RateLimitHook({ clock });
    hook.setReplicaCount(2);
    const sub = prepared('shared', 4); // 2/s here, burst 2
    const signal = new AbortController().signal;
    assert.equal(hook.beforeAttempt(sub, signal), undefined);
    assert.equal(hook.beforeAttempt(sub, signal), undefined);
    const third = hook.beforeAttempt(sub, signal);
    assert.ok(third instanceof Promise, 'the share’s burst is 2, not 4');
    let done = false;
    void third.then(() => (done = true));
    await clock.advance(499);
    assert.equal(done, false, 'one token every 500 ms at 2/s');
    await clock.advance(1);
    assert.equal(done, true);

    hook.setReplicaCount(1); // the other dispatcher left: 4/s again
    const fourth = hook.beforeAttempt(sub, signal);
    assert.ok(fourth instanceof Promise);
    let fourthDone = false;
    void fourth.then(() => (fourthDone = true));
    await clock.advance(249);
    assert.equal(fourthDone, false);
    await clock.advance(1);
    assert.equal(fourthDone, true, 'one token every 250 ms at 4/s');
  });

  it('holds a subscription to the lower of its limit and the granted cap', async () => {
    const clock = new FakeClock();
    let cap: number | undefined = 1; // e.g. WebHook-Allowed-Rate: 60
    const hook = new RateLimitHook({ clock, capOf: () => cap });
    const limited = prepared('c', 50);
    assert.equal(hook.rateOf(limited), 1);
    const signal = new AbortController().signal;
    assert.equal(hook.beforeAttempt(limited, signal), undefined);
    const next = hook.beforeAttempt(limited, signal);
    assert.ok(next instanceof Promise, 'one per second: the second waits');
    cap = undefined;
    assert.equal(hook.rateOf(limited), 50);
    assert.equal(hook.rateOf(prepared('d')), undefined);
    cap = 2;
    assert.equal(hook.rateOf(prepared('e')), 2, 'a cap alone limits too');
    await clock.advance(1_000);
    await next;
  });

  it('forgets a removed subscription and keeps a stopped one', async () => {
    const clock = new FakeClock();
    const hook = new RateLimitHook({ clock });
    const sub = prepared('f', 1);
    const signal = new AbortController().signal;
    assert.equal(hook.beforeAttempt(sub, signal), undefined);
    hook.subscriptionStopped(sub.id, false);
    assert.ok(hook.beforeAttempt(sub, signal) instanceof Promise, 'no fresh burst on a restart');
    hook.subscriptionStopped(sub.id, true);
    assert.equal(hook.beforeAttempt(sub, signal), undefined, 'a re-added one starts full');
    hook.close();
    assert.equal(clock.timers.size, 0);
  });
});

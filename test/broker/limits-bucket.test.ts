import { strict as assert } from 'node:assert';
import { NEVER, ProducerRateLimiter, buildRateLimitProblem } from '../../broker/rate-limit.js';
import type { CompiledProducer } from '../../core/config/model.js';
import { buildProducer } from './fixture.js';

function limited(name: string, eventsPerSecond: number, burst: number): CompiledProducer {
  return { ...buildProducer(name, [], [], []), rateLimit: { eventsPerSecond, burst } };
}

describe('ProducerRateLimiter', () => {
  let now = 0;
  const clock = (): number => now;
  beforeEach(() => (now = 0));

  it('lets producers without a limit through without keeping a bucket', () => {
    const limiter = new ProducerRateLimiter({ now: clock });
    const free = buildProducer('free', [], [], []);
    for (let i = 0; i < 1000; i++) assert.equal(limiter.take(free, 10), 0);
    assert.equal(limiter.size, 0);
  });

  it('refills at the rate, never beyond the burst, and says how long to wait', () => {
    const limiter = new ProducerRateLimiter({ now: clock });
    const p = limited('p', 10, 20);
    assert.equal(limiter.take(p, 20), 0);
    assert.equal(limiter.take(p, 1), 1, 'empty: at least one second');
    now += 100; // one token
    assert.equal(limiter.take(p, 1), 0);
    assert.equal(limiter.take(p, 15), 2, '15 tokens at 10/s: 1.5 s, rounded up');
    now += 60_000;
    assert.equal(limiter.take(p, 20), 0, 'capped at the burst');
    assert.equal(limiter.take(p, 1), 1);
    assert.equal(limiter.take(p, 21), NEVER, 'more than the burst can never fit');
  });

  it('keeps the bucket for a new config entry with the same limit, resets it for a new limit', () => {
    const limiter = new ProducerRateLimiter({ now: clock });
    assert.equal(limiter.take(limited('p', 1, 2), 2), 0);
    assert.equal(limiter.take(limited('p', 1, 2), 1), 1, 'same limit: still empty');
    assert.equal(limiter.take(limited('p', 1, 3), 3), 0, 'new limit: a full bucket');
    assert.equal(limiter.size, 1);
    limiter.forget('shop', 'p');
    assert.equal(limiter.size, 0);
  });

  it('holds at most maxBuckets buckets', () => {
    const limiter = new ProducerRateLimiter({ now: clock, maxBuckets: 3 });
    for (let i = 0; i < 10; i++) limiter.take(limited(`p${i}`, 1, 1), 1);
    assert.equal(limiter.size, 3);
  });

  it('builds a 429 with Retry-After, or a 413 for a batch over the burst', () => {
    const p = limited('p', 5, 10);
    const limitedProblem = buildRateLimitProblem(p, 3, 2);
    assert.equal(limitedProblem.problem.status, 429);
    assert.equal(limitedProblem.headers?.['retry-after'], '2');
    const tooBig = buildRateLimitProblem(p, 11, NEVER);
    assert.equal(tooBig.problem.status, 413);
    assert.equal(tooBig.problem.maxEvents, 10);
    assert.equal(tooBig.headers, undefined);
  });
});

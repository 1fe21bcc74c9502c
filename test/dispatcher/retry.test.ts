import { strict as assert } from 'node:assert';
import {
  classifyAttempt,
  computeRetryDelay,
  DeadLetterCode,
  decideNextStep,
  parseRetryAfter,
  statusClassOf,
  type AttemptResult,
  type Classification,
  type RetryPolicy,
} from '../../dispatcher/retry.js';

const policy: RetryPolicy = {
  maxAttempts: 8,
  backoff: 'exponential',
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  retryAfterMaxMs: 600_000,
};
const response = (status: number, retryAfter?: string): AttemptResult =>
  retryAfter === undefined
    ? { kind: 'response', status }
    : { kind: 'response', status, retryAfter };

describe('retry policy', () => {
  describe('classifyAttempt', () => {
    const table: [AttemptResult, Classification][] = [
      [response(200), { verdict: 'delivered' }],
      [response(202), { verdict: 'delivered' }],
      [response(204), { verdict: 'delivered' }],
      [response(500), { verdict: 'retryable' }],
      [response(502), { verdict: 'retryable' }],
      [response(503), { verdict: 'retryable' }],
      [response(599), { verdict: 'retryable' }],
      [response(404), { verdict: 'retryable' }],
      [response(408), { verdict: 'retryable' }],
      [response(409), { verdict: 'retryable' }],
      [response(425), { verdict: 'retryable' }],
      [response(429), { verdict: 'retryable' }],
      [response(400), { verdict: 'fatal', code: DeadLetterCode.Rejected }],
      [response(401), { verdict: 'fatal', code: DeadLetterCode.Rejected }],
      [response(403), { verdict: 'fatal', code: DeadLetterCode.Rejected }],
      [response(413), { verdict: 'fatal', code: DeadLetterCode.Rejected }],
      [response(422), { verdict: 'fatal', code: DeadLetterCode.Rejected }],
      [response(410), { verdict: 'fatal', code: DeadLetterCode.Gone }],
      [response(301), { verdict: 'fatal', code: DeadLetterCode.Redirect }],
      [response(302), { verdict: 'fatal', code: DeadLetterCode.Redirect }],
      [response(304), { verdict: 'fatal', code: DeadLetterCode.Redirect }],
      [response(307), { verdict: 'fatal', code: DeadLetterCode.Redirect }],
      [response(308), { verdict: 'fatal', code: DeadLetterCode.Redirect }],
      [response(101), { verdict: 'fatal', code: DeadLetterCode.UnexpectedStatus }],
      [{ kind: 'failure', failure: 'timeout', message: 'x' }, { verdict: 'retryable' }],
      [{ kind: 'failure', failure: 'network', message: 'ECONNREFUSED' }, { verdict: 'retryable' }],
      [{ kind: 'failure', failure: 'internal', message: 'x' }, { verdict: 'retryable' }],
    ];
    for (const [result, expected] of table) {
      const label = result.kind === 'response' ? `HTTP ${result.status}` : result.failure;
      it(`${label} → ${expected.verdict}${'code' in expected ? ` (${expected.code})` : ''}`, () => {
        assert.deepEqual(classifyAttempt(result), expected);
      });
    }
  });

  describe('computeRetryDelay', () => {
    const linear: RetryPolicy = { ...policy, backoff: 'linear' };
    const table: {
      name: string;
      policy: RetryPolicy;
      attempt: number;
      random: number;
      retryAfterMs?: number;
      expected: number;
    }[] = [
      {
        name: 'exp, attempt 1, top of jitter',
        policy,
        attempt: 1,
        random: 0.999999,
        expected: 999,
      },
      { name: 'exp, attempt 1, half jitter', policy, attempt: 1, random: 0.5, expected: 500 },
      { name: 'exp, attempt 2 doubles', policy, attempt: 2, random: 0.5, expected: 1_000 },
      { name: 'exp, attempt 4', policy, attempt: 4, random: 0.5, expected: 4_000 },
      { name: 'exp, capped at maxDelay', policy, attempt: 10, random: 0.5, expected: 30_000 },
      {
        name: 'exp, huge attempt stays capped',
        policy,
        attempt: 5_000,
        random: 0.5,
        expected: 30_000,
      },
      { name: 'full jitter can be zero', policy, attempt: 3, random: 0, expected: 0 },
      { name: 'attempt 0 counts as 1', policy, attempt: 0, random: 0.5, expected: 500 },
      { name: 'linear, attempt 3', policy: linear, attempt: 3, random: 0.5, expected: 1_500 },
      { name: 'linear, capped', policy: linear, attempt: 500, random: 0.5, expected: 30_000 },
      {
        name: 'Retry-After is a floor',
        policy,
        attempt: 1,
        random: 0.5,
        retryAfterMs: 7_000,
        expected: 7_000,
      },
      {
        name: 'backoff above Retry-After wins',
        policy,
        attempt: 6,
        random: 0.5,
        retryAfterMs: 2_000,
        expected: 16_000,
      },
      {
        name: 'Retry-After capped at retryAfterMax',
        policy,
        attempt: 1,
        random: 0.5,
        retryAfterMs: 3_600_000,
        expected: 600_000,
      },
      {
        name: 'Retry-After: 0 leaves the jittered backoff',
        policy,
        attempt: 2,
        random: 0.25,
        retryAfterMs: 0,
        expected: 500,
      },
    ];
    for (const c of table) {
      it(`${c.name} → ${c.expected} ms`, () => {
        const options: { random: () => number; retryAfterMs?: number } = { random: () => c.random };
        if (c.retryAfterMs !== undefined) options.retryAfterMs = c.retryAfterMs;
        assert.equal(computeRetryDelay(c.policy, c.attempt, options), c.expected);
      });
    }
    it('stays within [0, step] with the real random source', () => {
      for (let i = 0; i < 1_000; i++) {
        const d = computeRetryDelay(policy, 3);
        assert.ok(d >= 0 && d <= 4_000 && Number.isInteger(d), String(d));
      }
    });
  });

  describe('parseRetryAfter', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    const table: [string | undefined, number | undefined][] = [
      [undefined, undefined],
      ['0', 0],
      ['120', 120_000],
      [' 5 ', 5_000],
      ['Wed, 01 Jan 2025 00:00:30 GMT', 30_000],
      ['Tue, 31 Dec 2024 23:00:00 GMT', 0],
      ['soon', undefined],
      ['-1', undefined],
      ['1.5', undefined],
      ['2025-01-01', undefined],
    ];
    for (const [value, expected] of table) {
      it(`${JSON.stringify(value)} → ${expected}`, () => {
        assert.equal(parseRetryAfter(value, now), expected);
      });
    }
  });

  describe('decideNextStep', () => {
    const half = { random: () => 0.5, nowMs: Date.parse('2025-01-01T00:00:00Z') };
    it('acks a 2xx', () => {
      assert.deepEqual(decideNextStep(response(200), 1, policy, half), { action: 'ack' });
    });
    it('naks a 500 with the backoff for its attempt', () => {
      const step = decideNextStep(response(500), 3, policy, half);
      assert.deepEqual(step, { action: 'nak', delayMs: 2_000, reason: 'sink answered HTTP 500' });
    });
    it('naks a 429 with its Retry-After', () => {
      const step = decideNextStep(response(429, '30'), 1, policy, half);
      assert.equal(step.action === 'nak' && step.delayMs, 30_000);
    });
    it('naks a 503 with an HTTP-date Retry-After', () => {
      const step = decideNextStep(response(503, 'Wed, 01 Jan 2025 00:01:00 GMT'), 1, policy, half);
      assert.equal(step.action === 'nak' && step.delayMs, 60_000);
    });
    it('dead-letters a retryable failure on the last attempt', () => {
      const step = decideNextStep(response(503), 8, policy, half);
      assert.equal(step.action, 'dead_letter');
      assert.equal(step.action === 'dead_letter' && step.code, DeadLetterCode.AttemptsExhausted);
      assert.match(step.action === 'dead_letter' ? step.reason : '', /HTTP 503 \(attempt 8 of 8\)/);
    });
    it('dead-letters a timeout after maxAttempts too', () => {
      const step = decideNextStep(
        { kind: 'failure', failure: 'timeout', message: 'slow' },
        9,
        policy,
      );
      assert.equal(step.action === 'dead_letter' && step.code, DeadLetterCode.AttemptsExhausted);
    });
    it('pauses on 410 Gone, keeping the event, even on the last attempt', () => {
      for (const attempt of [1, 8]) {
        const step = decideNextStep(response(410), attempt, policy, half);
        assert.equal(step.action, 'pause');
        assert.match(step.action === 'pause' ? step.reason : '', /HTTP 410/);
      }
    });
    it('dead-letters a 410 as gone where pausing is not possible', () => {
      const step = decideNextStep(response(410), 1, policy, { ...half, pauseOnGone: false });
      assert.equal(step.action === 'dead_letter' && step.code, DeadLetterCode.Gone);
    });
    it('dead-letters a 400 on the first attempt', () => {
      const step = decideNextStep(response(400), 1, policy, half);
      assert.deepEqual(step, {
        action: 'dead_letter',
        code: DeadLetterCode.Rejected,
        reason: 'sink answered HTTP 400',
      });
    });
    it('dead-letters a redirect on the first attempt', () => {
      const step = decideNextStep(response(302), 1, policy, half);
      assert.equal(step.action === 'dead_letter' && step.code, DeadLetterCode.Redirect);
    });
    it('with maxAttempts 1, never retries', () => {
      const step = decideNextStep(response(500), 1, { ...policy, maxAttempts: 1 }, half);
      assert.equal(step.action, 'dead_letter');
    });
  });

  it('statusClassOf labels metrics', () => {
    assert.equal(statusClassOf(response(204)), '2xx');
    assert.equal(statusClassOf(response(302)), '3xx');
    assert.equal(statusClassOf(response(429)), '4xx');
    assert.equal(statusClassOf(response(503)), '5xx');
    assert.equal(statusClassOf({ kind: 'failure', failure: 'timeout', message: '' }), 'timeout');
  });
});

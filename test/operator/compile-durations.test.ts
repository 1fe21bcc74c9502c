/**
 * The range of every duration field (core/resources/duration-ranges.ts, docs/resources.md):
 * the operator's compile refuses what the CRD cannot (only a zero is refused there), naming
 * the field, and keeps the resource out of the config; the boundary values compile.
 */
import { strict as assert } from 'node:assert';
import type { CompiledEventType, CompiledSubscription } from '../../core/config/model.js';
import type { EventTypeSpec, SubscriptionSpec } from '../../core/resources/types.js';
import { ProblemReason, Severity } from '../../operator/compile.js';
import { compile, eventType, orderCreated, subscription } from './fixtures.js';

type Delivery = NonNullable<SubscriptionSpec['delivery']>;

interface RefusedCase {
  title: string;
  eventType?: Partial<EventTypeSpec>;
  delivery?: Delivery;
  path: string;
  message: RegExp;
}

const TEN_YEARS_AND_A_DAY = '3651d';

// prettier-ignore
const refused: RefusedCase[] = [
  { title: 'a zero timeout (every POST would be aborted at once)', delivery: { timeout: '0s' }, path: 'spec.delivery.timeout', message: /^must be more than 0, not "0s"$/ },
  { title: 'a zero timeout spelled otherwise', delivery: { timeout: '0.0m0ms' }, path: 'spec.delivery.timeout', message: /must be more than 0/ },
  { title: 'a timeout that rounds to 0 ms', delivery: { timeout: '0.4ms' }, path: 'spec.delivery.timeout', message: /^must be from 1ms to 1h, not "0.4ms"$/ },
  { title: 'a timeout over 1h', delivery: { timeout: '1h1ms' }, path: 'spec.delivery.timeout', message: /from 1ms to 1h, not "1h1ms"/ },
  { title: 'a timeout past what Node timers can wait', delivery: { timeout: '30d' }, path: 'spec.delivery.timeout', message: /from 1ms to 1h/ },
  { title: 'a zero initialDelay (every retry at once)', delivery: { retry: { initialDelay: '0s' } }, path: 'spec.delivery.retry.initialDelay', message: /must be more than 0/ },
  { title: 'an initialDelay over ten years', delivery: { retry: { initialDelay: TEN_YEARS_AND_A_DAY } }, path: 'spec.delivery.retry.initialDelay', message: /from 1ms to 3650d/ },
  { title: 'a zero maxDelay', delivery: { retry: { maxDelay: '0ms' } }, path: 'spec.delivery.retry.maxDelay', message: /must be more than 0/ },
  { title: 'a maxDelay over ten years', delivery: { retry: { maxDelay: TEN_YEARS_AND_A_DAY } }, path: 'spec.delivery.retry.maxDelay', message: /from 1ms to 3650d/ },
  { title: 'a maxDelay below the initialDelay, both written', delivery: { retry: { initialDelay: '2s', maxDelay: '1500ms' } }, path: 'spec.delivery.retry.maxDelay', message: /^maxDelay \(1500ms\) must not be less than initialDelay \(2s\)$/ },
  { title: 'a retryAfterMax that rounds to 0 ms (not 0s)', delivery: { retry: { retryAfterMax: '0.1ms' } }, path: 'spec.delivery.retry.retryAfterMax', message: /^must be 0s \(Retry-After is ignored\), or from 1ms to 3650d, not "0.1ms"$/ },
  { title: 'a retryAfterMax over ten years', delivery: { retry: { retryAfterMax: TEN_YEARS_AND_A_DAY } }, path: 'spec.delivery.retry.retryAfterMax', message: /from 1ms to 3650d/ },
  { title: 'an autoPauseAfter over ten years', delivery: { autoPauseAfter: TEN_YEARS_AND_A_DAY }, path: 'spec.delivery.autoPauseAfter', message: /^must be 0s \(never pause\), or from 1ms to 3650d/ },
  { title: 'a maxAge under JetStream’s 100ms floor', eventType: { retention: { maxAge: '99ms' } }, path: 'spec.retention.maxAge', message: /^must be 0s \(no age limit\), or from 100ms to 3650d, not "99ms"$/ },
  { title: 'a maxAge over ten years', eventType: { retention: { maxAge: TEN_YEARS_AND_A_DAY } }, path: 'spec.retention.maxAge', message: /from 100ms to 3650d/ },
  { title: 'a zero duplicateWindow (JetStream would use 2m)', eventType: { duplicateWindow: '0s' }, path: 'spec.duplicateWindow', message: /must be more than 0/ },
  { title: 'a duplicateWindow under 100ms', eventType: { duplicateWindow: '99ms' }, path: 'spec.duplicateWindow', message: /^must be from 100ms to 3650d, not "99ms"$/ },
  { title: 'a duplicateWindow over ten years, without an age limit', eventType: { retention: { maxAge: '0s' }, duplicateWindow: TEN_YEARS_AND_A_DAY }, path: 'spec.duplicateWindow', message: /from 100ms to 3650d/ },
];

interface AcceptedCase {
  title: string;
  eventType?: Partial<EventTypeSpec>;
  delivery?: Delivery;
  /** What the compiled resource must contain. */
  expect: (et: CompiledEventType | undefined, sub: CompiledSubscription | undefined) => void;
}

const DAY_MS = 86_400_000;

const accepted: AcceptedCase[] = [
  {
    title: 'the smallest timeout, 1ms',
    delivery: { timeout: '1ms' },
    expect: (_, sub) => assert.equal(sub?.delivery.timeoutMs, 1),
  },
  {
    title: 'the largest timeout, 1h, however spelled',
    delivery: { timeout: '59m60s' },
    expect: (_, sub) => assert.equal(sub?.delivery.timeoutMs, 3_600_000),
  },
  {
    title: 'initialDelay = maxDelay = 1ms',
    delivery: { retry: { initialDelay: '1ms', maxDelay: '1ms' } },
    expect: (_, sub) => {
      assert.equal(sub?.delivery.retry.initialDelayMs, 1);
      assert.equal(sub?.delivery.retry.maxDelayMs, 1);
    },
  },
  {
    title: 'an initialDelay over the default maxDelay (the defaulted maxDelay gives way)',
    delivery: { retry: { initialDelay: '2h' } },
    expect: (_, sub) => {
      assert.equal(sub?.delivery.retry.initialDelayMs, 7_200_000);
      assert.equal(sub?.delivery.retry.maxDelayMs, 7_200_000);
    },
  },
  {
    title: 'a maxDelay under the default initialDelay (the defaulted initialDelay gives way)',
    delivery: { retry: { maxDelay: '500ms' } },
    expect: (_, sub) => {
      assert.equal(sub?.delivery.retry.initialDelayMs, 500);
      assert.equal(sub?.delivery.retry.maxDelayMs, 500);
    },
  },
  {
    title: 'retryAfterMax 0s (Retry-After ignored) and autoPauseAfter 0s (never pause)',
    delivery: { retry: { retryAfterMax: '0s' }, autoPauseAfter: '0s' },
    expect: (_, sub) => {
      assert.equal(sub?.delivery.retry.retryAfterMaxMs, 0);
      assert.equal(sub?.delivery.autoPauseAfterMs, 0);
    },
  },
  {
    title: 'the largest delays, 3650d',
    delivery: {
      retry: { initialDelay: '3650d', maxDelay: '3650d', retryAfterMax: '3650d' },
      autoPauseAfter: '3650d',
    },
    expect: (_, sub) => {
      assert.equal(sub?.delivery.retry.maxDelayMs, 3650 * DAY_MS);
      assert.equal(sub?.delivery.autoPauseAfterMs, 3650 * DAY_MS);
    },
  },
  {
    title: 'maxAge 0s (no age limit) keeps the default duplicate window',
    eventType: { retention: { maxAge: '0s' } },
    expect: (et) => {
      assert.equal(et?.retention?.maxAgeMs, 0);
      assert.equal(et?.duplicateWindowMs, 120_000);
    },
  },
  {
    title: 'maxAge and duplicateWindow at JetStream’s 100ms floor',
    eventType: { retention: { maxAge: '100ms' }, duplicateWindow: '0.1s' },
    expect: (et) => {
      assert.equal(et?.retention?.maxAgeMs, 100);
      assert.equal(et?.duplicateWindowMs, 100);
    },
  },
  {
    title: 'maxAge and duplicateWindow at the 3650d ceiling',
    eventType: { retention: { maxAge: '3650d' }, duplicateWindow: '3650d' },
    expect: (et) => {
      assert.equal(et?.retention?.maxAgeMs, 3650 * DAY_MS);
      assert.equal(et?.duplicateWindowMs, 3650 * DAY_MS);
    },
  },
];

const resourcesOf = (c: { eventType?: Partial<EventTypeSpec>; delivery?: Delivery }) =>
  c.eventType
    ? [eventType('order-created', { ...orderCreated.spec, ...c.eventType })]
    : [orderCreated, subscription('partner', { delivery: c.delivery ?? {} })];

describe('compileResources duration ranges', () => {
  describe('refuses, naming the field', () => {
    for (const c of refused) {
      it(`${c.title}: ${c.path}`, () => {
        const { config, problems } = compile(resourcesOf(c));
        assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
        const [p] = problems;
        assert.equal(p?.kind, c.eventType ? 'EventType' : 'Subscription');
        assert.equal(p?.reason, ProblemReason.InvalidValue);
        assert.equal(p?.severity, Severity.Error);
        assert.equal(p?.path, c.path);
        assert.match(p?.message ?? '', c.message);
        // Left out of the config: nothing runs with the value.
        const compiled = c.eventType ? config.eventTypes : config.subscriptions;
        assert.deepEqual(compiled, []);
      });
    }
  });

  describe('accepts the boundaries', () => {
    for (const c of accepted) {
      it(c.title, () => {
        const { config, problems } = compile(resourcesOf(c));
        assert.deepEqual(problems, []);
        c.expect(config.eventTypes[0], config.subscriptions[0]);
      });
    }
  });
});

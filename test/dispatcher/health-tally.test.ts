/**
 * How what one dispatcher saw merges into the record every replica shares, and when only
 * failures pause a subscription: the rules behind `herald status` and the Subscription status.
 */
import { strict as assert } from 'node:assert';
import {
  createDeliveryState,
  isPauseInEffect,
  liftPause,
  PauseCode,
  type DeliveryState,
} from '../../core/delivery-state.js';
import {
  addAttempt,
  combineTallies,
  emptyTally,
  findAutoPauseReason,
  liftStalePause,
  mergeTally,
  withPause,
  type AttemptTally,
} from '../../dispatcher/health-tally.js';

const T = Date.parse('2026-03-01T10:00:00.000Z');
const at = (s: number): number => T + s * 1000;
const iso = (s: number): string => new Date(at(s)).toISOString();
const ctx = (nowS: number) => ({
  namespace: 'shop',
  name: 'orders',
  generation: 1,
  nowMs: at(nowS),
});
const fail = (t: AttemptTally, s: number, status = 503): void =>
  addAttempt(t, at(s), { succeeded: false, status, error: `sink answered HTTP ${status}` });
const succeed = (t: AttemptTally, s: number): void =>
  addAttempt(t, at(s), { succeeded: true, status: 200 });

describe('endpoint health merge', () => {
  it('counts failures across writes and replicas until a success resets them', () => {
    const a = emptyTally();
    fail(a, 1);
    fail(a, 2);
    let state = mergeTally(undefined, a, ctx(2));
    assert.equal(state.consecutiveFailures, 2);
    assert.equal(state.failingSince, iso(1));
    assert.equal(state.lastStatus, 503);

    // Another replica's failures add up; the clock keeps its start.
    const b = emptyTally();
    fail(b, 3, 500);
    state = mergeTally(state, b, ctx(3));
    assert.equal(state.consecutiveFailures, 3);
    assert.equal(state.failingSince, iso(1));
    assert.equal(state.lastStatus, 500);
    assert.equal(state.lastFailureTime, iso(3));

    // A success, then one more failure, on a third replica.
    const c = emptyTally();
    succeed(c, 4);
    fail(c, 5);
    state = mergeTally(state, c, ctx(5));
    assert.equal(state.consecutiveFailures, 1);
    assert.equal(state.lastSuccessTime, iso(4));
    assert.equal(state.failingSince, iso(5));
  });

  it('does not count failures that came before a success another replica recorded', () => {
    const healthy: DeliveryState = {
      ...createDeliveryState('shop', 'orders', 1, at(0)),
      lastSuccessTime: iso(10),
      lastStatus: 200,
    };
    const late = emptyTally();
    fail(late, 5);
    const state = mergeTally(healthy, late, ctx(11));
    assert.equal(state.consecutiveFailures, 0);
    assert.equal(state.lastStatus, 200, 'the newer attempt decides the last status');
    assert.equal(state.lastFailureTime, iso(5));
  });

  it('keeps an unwritten tally when a write fails, adding what came after', () => {
    const first = emptyTally();
    fail(first, 1);
    const second = emptyTally();
    fail(second, 2, 502);
    const both = combineTallies(first, second);
    const state = mergeTally(undefined, both, ctx(2));
    assert.equal(state.consecutiveFailures, 2);
    assert.equal(state.failingSince, iso(1));
    assert.equal(state.lastStatus, 502);
  });

  it('pauses after autoPauseAfter of only failures; 0 never does', () => {
    const t = emptyTally();
    fail(t, 0);
    fail(t, 59);
    const state = mergeTally(undefined, t, ctx(59));
    assert.equal(findAutoPauseReason(state, 60_000, at(59)), undefined, 'not yet');
    const reason = findAutoPauseReason(state, 60_000, at(60));
    assert.match(
      reason ?? '',
      /^only failed attempts for 1m \(2 in a row since .*autoPauseAfter is 1m\)/,
    );
    assert.equal(findAutoPauseReason(state, 0, at(86_400)), undefined);
  });

  it('restarts the auto-pause clock on resume, and lets an edit lift a pause', () => {
    const t = emptyTally();
    fail(t, 0);
    let state = withPause(
      mergeTally(undefined, t, ctx(0)),
      { code: PauseCode.FailingTooLong, reason: 'r', generation: 1 },
      at(100),
    );
    assert.ok(isPauseInEffect(state, 1));
    assert.ok(!isPauseInEffect(state, 2), 'generation 2 was edited after the pause');
    assert.equal(liftStalePause(state, 1, at(101)), state);
    assert.equal(liftStalePause(state, 2, at(101)).pausedReason, undefined);

    state = liftPause(state, at(200));
    // A failure tallied before the resume does not restart the clock in the past.
    const stale = emptyTally();
    fail(stale, 150);
    state = mergeTally(state, stale, ctx(201));
    assert.equal(state.failingSince, iso(200));
    assert.equal(state.consecutiveFailures, 2, 'still failing since the last success');
  });
});

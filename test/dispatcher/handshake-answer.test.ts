/**
 * What a sink's answer to the validation request means (CloudEvents webhook spec §4.2): only
 * a 2xx naming this origin (or `*`) in WebHook-Allowed-Origin is consent.
 */
import { strict as assert } from 'node:assert';
import type { ValidationResult } from '../../dispatcher/deliver.js';
import type { VerificationReason, VerificationStatus } from '../../dispatcher/handshake.js';
import { checkWebhookOrigin, judgeAnswer, parseAllowedRate } from '../../dispatcher/handshake.js';
import { AttemptFailure } from '../../dispatcher/retry.js';

const ORIGIN = 'events.example.com';
const SINK = 'https://sink.example';
const answer = (
  status: number,
  headers: Record<string, string | string[]> = {},
): ValidationResult => ({ kind: 'response', status, headers });

describe('handshake: judging the answer', () => {
  const cases: [string, ValidationResult, VerificationStatus, VerificationReason][] = [
    ['the exact origin', answer(200, { 'webhook-allowed-origin': ORIGIN }), 'verified', 'Verified'],
    [
      'the origin in other case',
      answer(204, { 'webhook-allowed-origin': 'Events.Example.COM' }),
      'verified',
      'Verified',
    ],
    ['*', answer(200, { 'webhook-allowed-origin': '*' }), 'verified', 'Verified'],
    ['200 without the header', answer(200, { allow: 'POST' }), 'refused', 'NoConsent'],
    [
      'another origin',
      answer(200, { 'webhook-allowed-origin': 'other.example' }),
      'refused',
      'OriginNotAllowed',
    ],
    ['405', answer(405), 'refused', 'NoConsent'],
    [
      'a redirect (not followed)',
      answer(302, { 'webhook-allowed-origin': '*' }),
      'refused',
      'NoConsent',
    ],
    [
      'the header on a 404',
      answer(404, { 'webhook-allowed-origin': ORIGIN }),
      'refused',
      'NoConsent',
    ],
    ['503', answer(503), 'pending', 'SinkError'],
    ['429', answer(429), 'pending', 'SinkError'],
    [
      'a bad allowed rate',
      answer(200, { 'webhook-allowed-origin': '*', 'webhook-allowed-rate': '0' }),
      'refused',
      'InvalidAllowedRate',
    ],
    [
      'a timeout',
      { kind: 'failure', failure: AttemptFailure.Timeout, message: 'no response within 10 ms' },
      'pending',
      'SinkUnreachable',
    ],
    [
      'a refused address',
      {
        kind: 'failure',
        failure: AttemptFailure.ForbiddenAddress,
        message: 'sink.example resolves to a loopback address',
      },
      'pending',
      'ForbiddenAddress',
    ],
    [
      'no oauth2 token (not sent)',
      {
        kind: 'token-failure',
        failure: AttemptFailure.Internal,
        message:
          'oauth2 token endpoint https://idp.example/token answered HTTP 401: invalid_client',
      },
      'pending',
      'TokenUnavailable',
    ],
    [
      'a token endpoint on a refused address',
      {
        kind: 'token-failure',
        failure: AttemptFailure.ForbiddenAddress,
        message: 'idp.example resolves to a loopback address',
      },
      'pending',
      'ForbiddenAddress',
    ],
  ];
  for (const [name, result, status, reason] of cases) {
    it(`${name}: ${status} (${reason})`, () => {
      const state = judgeAnswer(result, ORIGIN, SINK);
      assert.equal(state.status, status);
      assert.equal(state.reason, reason);
      assert.equal(state.sinkOrigin, SINK);
      assert.ok(state.message.includes(SINK), state.message);
    });
  }

  it('keeps the granted rate in requests per minute; `*` grants no cap', () => {
    const granted = judgeAnswer(
      answer(200, { 'webhook-allowed-origin': ORIGIN, 'webhook-allowed-rate': '120' }),
      ORIGIN,
      SINK,
    );
    assert.equal(granted.allowedRatePerMinute, 120);
    const unlimited = judgeAnswer(
      answer(200, { 'webhook-allowed-origin': ORIGIN, 'webhook-allowed-rate': '*' }),
      ORIGIN,
      SINK,
    );
    assert.equal(unlimited.status, 'verified');
    assert.equal(unlimited.allowedRatePerMinute, undefined);
  });

  it('reads WebHook-Allowed-Rate as a positive integer or *', () => {
    assert.equal(parseAllowedRate(' 60 '), 60);
    assert.equal(parseAllowedRate('*'), undefined);
    assert.equal(parseAllowedRate(undefined), undefined);
    for (const bad of ['0', '-5', '1.5', 'abc', '', '60, 60'])
      assert.equal(parseAllowedRate(bad), 'invalid', bad);
    assert.equal(parseAllowedRate(['60', '60']), 'invalid');
  });

  it('accepts DNS names as the origin, lower-cased, and nothing else', () => {
    assert.equal(checkWebhookOrigin('Events.Example.com'), 'events.example.com');
    assert.equal(checkWebhookOrigin('herald'), 'herald');
    for (const bad of ['', 'https://x.example', 'a b', 'x.example:443', '-x.example', 'x..example'])
      assert.throws(() => checkWebhookOrigin(bad), /DNS name/, bad);
  });
});

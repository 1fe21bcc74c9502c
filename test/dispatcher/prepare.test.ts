import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { CloudEvent } from '../../core/cloudevents/types.js';
import type { CompiledOAuth2, CompiledSubscription } from '../../core/config/model.js';
import { sealSecret } from '../../core/config/seal.js';
import {
  NotDeliverableReason,
  prepareSubscription,
  SubscriptionNotDeliverableError,
} from '../../dispatcher/prepare.js';
import { buildSubscription } from './support.js';

const key = randomBytes(32);
const ua = 'Herald/test';
const base = () => buildSubscription('shop', 'orders', 'https://sink.example/hook');
const event: CloudEvent = {
  attributes: { specversion: '1.0', id: '1', source: '/s', type: 't' },
  data: undefined,
};

/** A subscription with sink.auth.oauth2 (basic, a client secret) changed by `extra`. */
const withOAuth2 = (extra: Partial<CompiledOAuth2>): CompiledSubscription => ({
  ...base(),
  sink: {
    ...base().sink,
    auth: {
      oauth2: {
        tokenUrl: 'https://idp.example/token',
        clientId: 'c',
        clientSecret: sealSecret(key, 's'),
        scopes: [],
        ...extra,
      },
    },
  },
});

describe('prepareSubscription', () => {
  it('unseals sink auth into headers and keeps the user-agent', () => {
    const bearer = prepareSubscription(
      {
        ...base(),
        sink: { ...base().sink, auth: { bearer: { token: sealSecret(key, 'tok-1') } } },
      },
      key,
      ua,
    );
    const r = bearer.target.buildRequest(event, 'msg_1', 1);
    assert.equal(r.headers.authorization, 'Bearer tok-1');
    assert.equal(r.headers['user-agent'], ua);
    const apiKey = prepareSubscription(
      {
        ...base(),
        sink: {
          ...base().sink,
          auth: { apiKey: { header: 'X-Partner-Key', value: sealSecret(key, 'k-9') } },
        },
      },
      key,
      ua,
    );
    assert.equal(apiKey.target.buildRequest(event, 'msg_1', 1).headers['x-partner-key'], 'k-9');
  });

  it('runs one delivery at a time when ordered, maxInFlight otherwise', () => {
    assert.equal(prepareSubscription(base(), key, ua).concurrency, 4);
    const ordered = buildSubscription('shop', 'o', 'https://s.example/', {
      delivery: { ordering: 'ordered', maxInFlight: 16 },
    });
    assert.equal(prepareSubscription(ordered, key, ua).concurrency, 1);
  });

  it('enforces the rate limit and prepares a handshake subscription (no longer refused)', () => {
    const sub = buildSubscription('shop', 'o', 'https://s.example/', {
      sink: { verification: 'handshake' },
      delivery: { rateLimit: { eventsPerSecond: 5 } },
    });
    const prepared = prepareSubscription(sub, key, ua);
    assert.deepEqual(
      prepared.notEnforced.filter((s) => s.includes('rateLimit')),
      [],
    );
    assert.equal(prepared.config.sink.verification, 'handshake');
  });

  const refused: { name: string; sub: () => ReturnType<typeof base>; reason: string }[] = [
    {
      name: 'a CESQL filter that does not parse',
      sub: () => ({ ...base(), filters: [{ sql: "subject = 'x" }] }),
      reason: NotDeliverableReason.InvalidFilter,
    },
    {
      name: 'an invalid filter',
      sub: () => ({ ...base(), filters: [{ any: [] }] }),
      reason: NotDeliverableReason.InvalidFilter,
    },
    {
      name: 'an oauth2 tokenUrl that is not http(s)',
      sub: () => ({
        ...base(),
        sink: {
          ...base().sink,
          auth: {
            oauth2: {
              tokenUrl: 'ftp://idp/',
              clientId: 'c',
              clientSecret: sealSecret(key, 's'),
              scopes: [],
            },
          },
        },
      }),
      reason: NotDeliverableReason.InvalidSink,
    },
    {
      name: 'an oauth2 client secret sealed with another key',
      sub: () => ({
        ...base(),
        sink: {
          ...base().sink,
          auth: {
            oauth2: {
              tokenUrl: 'https://idp/',
              clientId: 'c',
              clientSecret: sealSecret(randomBytes(32), 's'),
              scopes: [],
            },
          },
        },
      }),
      reason: NotDeliverableReason.SecretUnavailable,
    },
    {
      name: 'an oauth2 parameter that would replace one Herald sets',
      sub: () => withOAuth2({ parameters: { audience: 'api', grant_type: 'password' } }),
      reason: NotDeliverableReason.InvalidSink,
    },
    {
      name: 'an oauth2 private key that is not a PEM key',
      sub: () =>
        withOAuth2({
          clientAuthentication: 'privateKeyJwt',
          privateKey: { key: sealSecret(key, 'not*a*key'), algorithm: 'RS256' },
        }),
      reason: NotDeliverableReason.InvalidSecret,
    },
    {
      name: 'oauth2 privateKeyJwt without a private key',
      sub: () => withOAuth2({ clientAuthentication: 'privateKeyJwt' }),
      reason: NotDeliverableReason.InvalidSink,
    },
    {
      name: 'an oauth2 client authentication this version does not know',
      sub: () => withOAuth2({ clientAuthentication: 'tls_client_auth' as unknown as 'basic' }),
      reason: NotDeliverableReason.UnsupportedFeature,
    },
    {
      name: 'a secret sealed with another key',
      sub: () => ({
        ...base(),
        delivery: {
          ...base().delivery,
          signingSecrets: [sealSecret(randomBytes(32), 'whsec_abc')],
        },
      }),
      reason: NotDeliverableReason.SecretUnavailable,
    },
    {
      name: 'a signing secret that is not base64',
      sub: () => ({
        ...base(),
        delivery: { ...base().delivery, signingSecrets: [sealSecret(key, 'whsec_not*base64')] },
      }),
      reason: NotDeliverableReason.InvalidSecret,
    },
    {
      name: 'credentials in the sink URI',
      sub: () => ({ ...base(), sink: { ...base().sink, uri: 'https://u:p@sink.example/' } }),
      reason: NotDeliverableReason.InvalidSink,
    },
    {
      name: 'a non-HTTP sink',
      sub: () => ({ ...base(), sink: { ...base().sink, uri: 'ftp://sink.example/' } }),
      reason: NotDeliverableReason.InvalidSink,
    },
    {
      name: 'an apiKey header that would replace a Herald header',
      sub: () => ({
        ...base(),
        sink: {
          ...base().sink,
          auth: { apiKey: { header: 'Webhook-Signature', value: sealSecret(key, 'x') } },
        },
      }),
      reason: NotDeliverableReason.InvalidSink,
    },
    {
      name: 'a bearer token with a line break',
      sub: () => ({
        ...base(),
        sink: { ...base().sink, auth: { bearer: { token: sealSecret(key, 'a\r\nX-Evil: 1') } } },
      }),
      reason: NotDeliverableReason.InvalidSink,
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name} (${c.reason})`, () => {
      assert.throws(
        () => prepareSubscription(c.sub(), key, ua),
        (err: unknown) =>
          err instanceof SubscriptionNotDeliverableError &&
          err.code === c.reason &&
          !err.message.includes('X-Evil') &&
          !err.message.includes('not*base64') &&
          !err.message.includes('not*a*key'),
      );
    });
  }
});

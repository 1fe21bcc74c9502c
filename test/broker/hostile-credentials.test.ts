/**
 * Issue 3 item 8, continued: hostile requests that need live credentials — forged, expired and
 * replayed Standard Webhooks signatures, expired and wrongly signed JWTs, a producer over its
 * rate limit, oversized headers. Each gets its documented status and problem type.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { startJwksServer, type SigningKey, type TestJwksServer } from '../support/jwks-server.js';
import {
  PROBLEM,
  applyAuthConfig,
  buildAuthProducer,
  buildConfigWith,
  buildOrderBody,
  generateWebhookSecret,
  postEvents,
  signRequest,
  startAuthBrokerFixture,
  type Answer,
} from './auth-fixture.js';
import type { BrokerFixture } from './fixture.js';

const AUDIENCE = 'herald';
const LIMITED_KEY = `limited-${randomBytes(8).toString('hex')}`;

interface CredentialCase {
  name: string;
  send(): Promise<Answer>;
  status: number;
  problem: string;
}

describe('hostile requests with credentials', function () {
  this.timeout(60_000);
  let fx: BrokerFixture;
  let idp: TestJwksServer;
  let key: SigningKey;
  let strangerKey: SigningKey;
  const secret = generateWebhookSecret();

  before(async () => {
    idp = await startJwksServer();
    key = await idp.createKey('ES256');
    strangerKey = await idp.createKey('ES256', { publish: false, kid: key.kid });
    fx = await startAuthBrokerFixture();
    const limited = buildAuthProducer('limited', { apiKeys: [LIMITED_KEY] });
    limited.rateLimit = { eventsPerSecond: 1, burst: 1 };
    await applyAuthConfig(
      fx,
      buildConfigWith(
        buildAuthProducer('signer', { hmacSecret: secret }),
        buildAuthProducer('app', {
          jwt: { issuer: idp.issuer, audience: AUDIENCE, jwksUri: idp.jwksUri },
        }),
        limited,
      ),
    );
  });
  after(async () => {
    await fx?.stop();
    await idp?.stop();
  });

  const signed = (opts: {
    secret?: string;
    at?: Date;
    tamper?: boolean;
    webhookId?: string;
    producer?: string;
  }) => {
    const { body, headers } = buildOrderBody();
    const sig = signRequest(opts.secret ?? secret, body, {
      producerName: 'signer',
      ...(opts.at && { at: opts.at }),
      ...(opts.webhookId && { webhookId: opts.webhookId }),
      ...(opts.producer && { producer: opts.producer }),
    });
    return postEvents(
      fx.url,
      { ...headers, ...sig },
      opts.tamper ? body.replace('12.5', '13.5') : body,
    );
  };
  const bearer = async (
    claims: JWTPayload,
    options: Parameters<TestJwksServer['sign']>[2] = {},
    signer = key,
  ) => {
    const token = await idp.sign(
      signer,
      { iss: idp.issuer, aud: AUDIENCE, sub: 'svc', ...claims },
      options,
    );
    const { body, headers } = buildOrderBody();
    return postEvents(fx.url, { ...headers, authorization: `Bearer ${token}` }, body);
  };
  const minutesAgo = (m: number): Date => new Date(Date.now() - m * 60_000);

  const cases: CredentialCase[] = [
    {
      name: 'HMAC signed with another secret (forged)',
      send: () => signed({ secret: generateWebhookSecret() }),
      status: 401,
      problem: 'invalid-signature',
    },
    {
      name: 'HMAC over a tampered body',
      send: () => signed({ tamper: true }),
      status: 401,
      problem: 'invalid-signature',
    },
    {
      name: 'HMAC timestamp 6 minutes old (expired)',
      send: () => signed({ at: minutesAgo(6) }),
      status: 401,
      problem: 'invalid-signature',
    },
    {
      name: 'HMAC timestamp 6 minutes ahead',
      send: () => signed({ at: minutesAgo(-6) }),
      status: 401,
      problem: 'invalid-signature',
    },
    {
      name: 'HMAC naming a producer that does not exist',
      send: () => signed({ producer: 'shop/nobody' }),
      status: 401,
      problem: 'invalid-signature',
    },
    {
      name: 'HMAC webhook-id replayed within the tolerance',
      send: async () => {
        const webhookId = `msg_${randomBytes(8).toString('hex')}`;
        const first = await signed({ webhookId });
        assert.equal(first.status, 202, JSON.stringify(first.body));
        return signed({ webhookId });
      },
      status: 401,
      problem: 'replayed-request',
    },
    {
      name: 'JWT expired',
      send: () => bearer({}, { expiresIn: -120 }),
      status: 401,
      problem: 'invalid-token',
    },
    {
      name: 'JWT not yet valid',
      send: () => bearer({}, { notBefore: 600 }),
      status: 401,
      problem: 'invalid-token',
    },
    {
      name: 'JWT signed by a key the IdP never published',
      send: () => bearer({}, {}, strangerKey),
      status: 401,
      problem: 'invalid-token',
    },
    {
      name: 'JWT for another audience',
      send: () => bearer({ aud: 'someone-else' }),
      status: 401,
      problem: 'invalid-token',
    },
    {
      name: 'JWT with alg none',
      send: async () => {
        const enc = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
        const token = `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ iss: idp.issuer, aud: AUDIENCE, sub: 'svc', exp: Math.floor(Date.now() / 1000) + 300 })}.`;
        const { body, headers } = buildOrderBody();
        return postEvents(fx.url, { ...headers, authorization: `Bearer ${token}` }, body);
      },
      status: 401,
      problem: 'invalid-token',
    },
    {
      name: 'a producer over its rate limit',
      send: async () => {
        const send = (): Promise<Answer> => {
          const { body, headers } = buildOrderBody();
          return postEvents(fx.url, { ...headers, 'x-api-key': LIMITED_KEY }, body);
        };
        await send(); // takes the only token
        const answer = await send();
        assert.match(String(answer.headers['retry-after']), /^[1-9]\d*$/);
        return answer;
      },
      status: 429,
      problem: 'rate-limited',
    },
    {
      name: 'request headers over 16 KiB',
      send: () => {
        const { body, headers } = buildOrderBody();
        return postEvents(
          fx.url,
          { ...headers, 'x-padding': 'p'.repeat(20_000), 'x-api-key': LIMITED_KEY },
          body,
        );
      },
      status: 431,
      problem: 'header-fields-too-large',
    },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.status} ${c.problem}`, async () => {
      const answer = await c.send();
      assert.equal(answer.status, c.status, JSON.stringify(answer.body));
      assert.equal(answer.body.type, PROBLEM + c.problem);
      const text = JSON.stringify(answer.body);
      assert.ok(
        !text.includes(secret) && !text.includes(LIMITED_KEY),
        'no credential in the answer',
      );
    });
  }
});

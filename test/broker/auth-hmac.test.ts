import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { sealSecret } from '../../core/config/seal.js';
import { createLogger } from '../../core/logging.js';
import { startBroker, type RunningBroker } from '../../broker/main.js';
import {
  CONFIG_KEY,
  PROBLEM,
  applyAuthConfig,
  buildAuthProducer,
  buildConfigWith,
  buildOrderBody,
  generateWebhookSecret,
  postEvents,
  signRequest,
  type Answer,
} from './auth-fixture.js';
import { ACME_KEY, NS, ORDER_CREATED, type BrokerFixture } from './fixture.js';
import { startAuthBrokerFixture } from './auth-fixture.js';

const MINUTE_MS = 60_000;

function assertRefused(res: Answer, status: number, slug: string, code?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.type, PROBLEM + slug, JSON.stringify(res.body));
  if (code !== undefined) assert.equal(res.body.code, code, JSON.stringify(res.body));
}

describe('broker auth: HMAC-signed requests (Standard Webhooks)', function () {
  let fx: BrokerFixture;
  let second: RunningBroker;
  let secondUrl: string;
  const secondLogs: string[] = [];
  const secret = generateWebhookSecret();
  const otherSecret = generateWebhookSecret();

  before(async () => {
    fx = await startAuthBrokerFixture();
    const destination = {
      write(chunk: string) {
        secondLogs.push(chunk);
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    // A second replica on the same NATS: replay state must be shared.
    second = await startBroker({
      natsUrl: fx.nats.url,
      httpPort: 0,
      host: '127.0.0.1',
      logger: createLogger('broker-2', { destination }),
      configKey: CONFIG_KEY,
    });
    secondUrl = `http://127.0.0.1:${second.port}`;
    const unsealable = buildAuthProducer('sealed-elsewhere', {});
    unsealable.hmacSecret = sealSecret(randomBytes(32), generateWebhookSecret());
    await applyAuthConfig(
      fx,
      buildConfigWith(
        buildAuthProducer('signer', { hmacSecret: secret }),
        buildAuthProducer('keyed', { apiKeys: ['keyed-key-0123456789abcdef'] }),
        unsealable,
      ),
      [fx.broker, second],
    );
  });
  after(async () => {
    await second?.stop();
    await fx?.stop();
  });

  function sendSigned(
    body: string,
    headers: Record<string, string>,
    sign: Parameters<typeof signRequest>[2] = { producerName: 'signer' },
    url = fx.url,
    key = secret,
  ): Promise<Answer> {
    return postEvents(url, { ...headers, ...signRequest(key, body, sign) }, body);
  }

  it('accepts a structured event signed by the standardwebhooks package', async () => {
    const { body, headers } = buildOrderBody();
    const res = await sendSigned(body, headers);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.type, ORDER_CREATED.type);
    assert.equal(res.body.duplicate, false);
  });

  it('signs the exact raw body: a binary-mode event with unusual spacing and UTF-8', async () => {
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      'ce-specversion': '1.0',
      'ce-id': `bin-${Date.now()}`,
      'ce-source': 'https://acme.example/shop/eu',
      'ce-type': ORDER_CREATED.type,
    };
    const body = '{ "orderId" : "ü-1",\n  "total": 1.0 }';
    const res = await sendSigned(body, headers);
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });

  it('accepts a timestamp 4 minutes old (within ±5 min)', async () => {
    const { body, headers } = buildOrderBody();
    const at = new Date(Date.now() - 4 * MINUTE_MS);
    const res = await sendSigned(body, headers, { producerName: 'signer', at });
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });

  it('refuses a signature made with another secret', async () => {
    const { body, headers } = buildOrderBody();
    const res = await sendSigned(body, headers, { producerName: 'signer' }, fx.url, otherSecret);
    assertRefused(res, 401, 'invalid-signature', 'no_matching_signature');
    assert.match(String(res.headers['www-authenticate']), /^Bearer realm="herald"/);
  });

  it('refuses a tampered body', async () => {
    const { body, headers } = buildOrderBody();
    const signed = signRequest(secret, body, { producerName: 'signer' });
    const tampered = body.replace('12.5', '1250');
    assert.notEqual(tampered, body);
    const res = await postEvents(fx.url, { ...headers, ...signed }, tampered);
    assertRefused(res, 401, 'invalid-signature', 'no_matching_signature');
  });

  it('refuses missing webhook-id, webhook-timestamp or Herald-Producer', async () => {
    const { body, headers } = buildOrderBody();
    const signed = signRequest(secret, body, { producerName: 'signer' });
    for (const [header, code] of [
      ['webhook-id', 'missing_headers'],
      ['webhook-timestamp', 'missing_headers'],
      ['herald-producer', 'missing_producer'],
    ] as const) {
      const { [header]: _dropped, ...rest } = signed;
      const res = await postEvents(fx.url, { ...headers, ...rest }, body);
      assertRefused(res, 401, 'invalid-signature', code);
    }
    // Without webhook-signature the request carries no credentials at all.
    const { 'webhook-signature': _s, ...unsigned } = signed;
    assertRefused(await postEvents(fx.url, { ...headers, ...unsigned }, body), 401, 'unauthorized');
  });

  it('refuses a timestamp 6 minutes old or 6 minutes in the future', async () => {
    for (const offset of [-6 * MINUTE_MS, 6 * MINUTE_MS]) {
      const { body, headers } = buildOrderBody();
      const at = new Date(Date.now() + offset);
      const res = await sendSigned(body, headers, { producerName: 'signer', at });
      assertRefused(res, 401, 'invalid-signature', 'timestamp_out_of_tolerance');
    }
    const { body, headers } = buildOrderBody();
    const signed = signRequest(secret, body, { producerName: 'signer' });
    const res = await postEvents(
      fx.url,
      { ...headers, ...signed, 'webhook-timestamp': 'yesterday' },
      body,
    );
    assertRefused(res, 401, 'invalid-signature', 'invalid_timestamp');
  });

  it('answers an unknown producer and one without HMAC like a bad signature', async () => {
    for (const producer of [`${NS}/nobody`, `${NS}/keyed`, 'not a producer id']) {
      const { body, headers } = buildOrderBody();
      const res = await sendSigned(body, headers, { producerName: 'signer', producer });
      assertRefused(res, 401, 'invalid-signature', 'no_matching_signature');
    }
  });

  it('refuses a webhook-id replayed on the same broker', async () => {
    const { body, headers } = buildOrderBody();
    const signed = { ...headers, ...signRequest(secret, body, { producerName: 'signer' }) };
    assert.equal((await postEvents(fx.url, signed, body)).status, 202);
    const replay = await postEvents(fx.url, signed, body);
    assertRefused(replay, 401, 'replayed-request', 'replayed');
    // A fresh signature with the same webhook-id is a replay too: the id is the nonce.
    const again = await sendSigned(body, headers, {
      producerName: 'signer',
      webhookId: signed['webhook-id'],
    });
    assertRefused(again, 401, 'replayed-request');
  });

  it('refuses a webhook-id replayed on another broker replica sharing NATS', async () => {
    const { body, headers } = buildOrderBody();
    const signed = { ...headers, ...signRequest(secret, body, { producerName: 'signer' }) };
    assert.equal((await postEvents(fx.url, signed, body)).status, 202);
    assertRefused(await postEvents(secondUrl, signed, body), 401, 'replayed-request');
  });

  it('lets exactly one of two simultaneous copies through, across replicas', async () => {
    const { body, headers } = buildOrderBody();
    const signed = { ...headers, ...signRequest(secret, body, { producerName: 'signer' }) };
    const answers = await Promise.all([
      postEvents(fx.url, signed, body),
      postEvents(secondUrl, signed, body),
    ]);
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [202, 401], JSON.stringify(answers.map((a) => a.body)));
  });

  it('does not burn a webhook-id on a request whose signature fails', async () => {
    const { body, headers } = buildOrderBody();
    const webhookId = `msg_${randomBytes(8).toString('hex')}`;
    const forged = await sendSigned(
      body,
      headers,
      { producerName: 'signer', webhookId },
      fx.url,
      otherSecret,
    );
    assertRefused(forged, 401, 'invalid-signature');
    const genuine = await sendSigned(body, headers, { producerName: 'signer', webhookId });
    assert.equal(genuine.status, 202, JSON.stringify(genuine.body));
  });

  it('refuses a webhook-id with a dot, and a signature next to an API key', async () => {
    const { body, headers } = buildOrderBody();
    const dotted = await sendSigned(body, headers, { producerName: 'signer', webhookId: 'a.1' });
    assertRefused(dotted, 401, 'invalid-signature', 'invalid_webhook_id');
    const signed = signRequest(secret, body, { producerName: 'signer' });
    const both = await postEvents(fx.url, { ...headers, ...signed, 'x-api-key': ACME_KEY }, body);
    assertRefused(both, 401, 'unauthorized', 'conflicting_credentials');
  });

  it('answers 500 when the broker cannot unseal the producer secret', async () => {
    const { body, headers } = buildOrderBody();
    const res = await sendSigned(body, headers, { producerName: 'sealed-elsewhere' });
    assertRefused(res, 500, 'internal-error', 'secret_unavailable');
  });

  it('never logs a secret or a signature', async () => {
    const { body, headers } = buildOrderBody();
    const signed = signRequest(otherSecret, body, { producerName: 'signer' });
    await postEvents(fx.url, { ...headers, ...signed }, body);
    const logged = fx.logLines.join('') + secondLogs.join('');
    assert.match(logged, /invalid-signature/);
    assert.match(logged, /replayed-request/);
    for (const s of [secret, otherSecret]) {
      assert.ok(!logged.includes(s), 'a secret was logged');
      assert.ok(!logged.includes(s.slice(6)), 'a secret was logged');
    }
    const signature = signed['webhook-signature'] as string;
    assert.ok(!logged.includes(signature.slice(3)), 'a signature was logged');
    assert.ok(!logged.includes(new Webhook(secret).sign('x', new Date(), body).slice(3)));
  });
});

import { strict as assert } from 'node:assert';
import { CloudEvent, HTTP } from 'cloudevents';
import { request } from 'undici';
import type { CompiledConfig, CompiledProducer } from '../../core/config/model.js';
import { applyConfig } from './apply-config.js';
import {
  ACME_KEY,
  NS,
  ORDER_CREATED,
  ORDER_SHIPPED,
  OTHER_KEY,
  buildBaseConfig,
  buildProducer,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';
import { openRawConnection } from './raw-http.js';

const PROBLEM = 'https://herald.dev/problems/';
const BETA_KEY = 'beta-key-9e8d7c6b5a493827';
const BODY_TIMEOUT_MS = 300;
const HEADERS_TIMEOUT_MS = 400;
const MAX_HEADER_BYTES = 8 * 1024;

interface Posted {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown> | Record<string, unknown>[];
}

/** acme: 2 events/s, burst 3; beta: its own bucket; other: no limit. */
function buildLimitedConfig(acmeLimit = { eventsPerSecond: 2, burst: 3 }): CompiledConfig {
  const config = buildBaseConfig();
  const acme = config.producers.find((p) => p.name === 'acme') as CompiledProducer;
  acme.rateLimit = acmeLimit;
  const beta = buildProducer('beta', [BETA_KEY], ['order-created'], []);
  beta.rateLimit = { eventsPerSecond: 1, burst: 2 };
  config.producers.push(beta);
  return config;
}

describe('broker limits', function () {
  let fx: BrokerFixture;
  let nowMs = 1_000;
  let seq = 0;
  const nextId = (): string => `limits-${++seq}`;

  before(async () => {
    fx = await startBrokerFixture({
      rateLimitClock: () => nowMs,
      bodyTimeoutMs: BODY_TIMEOUT_MS,
      headersTimeoutMs: HEADERS_TIMEOUT_MS,
      maxHeaderBytes: MAX_HEADER_BYTES,
    });
    await applyConfig(fx, buildLimitedConfig());
  });
  after(() => fx?.stop());

  function orderEvent(id = nextId()): CloudEvent<unknown> {
    return new CloudEvent<unknown>({
      type: ORDER_CREATED.type,
      source: 'https://acme.example/limits',
      id,
      data: { orderId: id, total: 1 },
    });
  }

  async function post(key: string, headers: Record<string, string>, body: string): Promise<Posted> {
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${key}` },
      body,
    });
    return {
      status: res.statusCode,
      headers: res.headers,
      body: (await res.body.json()) as Posted['body'],
    };
  }

  const postOne = (key: string, id?: string): Promise<Posted> => {
    const message = HTTP.binary(orderEvent(id));
    return post(key, message.headers as Record<string, string>, message.body as string);
  };

  const postBatch = (key: string, size: number): Promise<Posted> =>
    post(
      key,
      { 'content-type': 'application/cloudevents-batch+json' },
      JSON.stringify(Array.from({ length: size }, () => orderEvent().toJSON())),
    );

  function assertRateLimited(res: Posted, retryAfter: number): Record<string, unknown> {
    const problem = res.body as Record<string, unknown>;
    assert.equal(res.status, 429, JSON.stringify(problem));
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(problem.type, `${PROBLEM}rate-limited`);
    assert.equal(res.headers['retry-after'], String(retryAfter));
    assert.equal(problem.retryAfter, retryAfter);
    return problem;
  }

  describe('per-producer token bucket', () => {
    it('accepts the burst, answers 429 with Retry-After, and accepts again after refill', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await postOne(ACME_KEY)).status, 202);
      const refusedId = nextId();
      const refused = assertRateLimited(await postOne(ACME_KEY, refusedId), 1);
      assert.equal(refused.eventsPerSecond, 2);
      assert.equal(refused.burst, 3);

      // Other producers have buckets of their own (or none).
      const shipped = HTTP.binary(
        new CloudEvent({
          type: ORDER_SHIPPED.type,
          source: 'https://other.example/',
          id: nextId(),
        }),
      );
      const other = await post(OTHER_KEY, shipped.headers as Record<string, string>, '');
      assert.equal(other.status, 202, 'other has no limit');
      assert.equal((await postOne(BETA_KEY)).status, 202);
      assert.equal((await postOne(BETA_KEY)).status, 202);
      assertRateLimited(await postOne(BETA_KEY), 1);

      nowMs += 499; // 0.998 tokens: still not one
      assertRateLimited(await postOne(ACME_KEY), 1);
      nowMs += 1; // one token
      const accepted = await postOne(ACME_KEY, refusedId);
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      assert.equal(
        (accepted.body as Record<string, unknown>).duplicate,
        false,
        'the refused event was never stored',
      );
      assertRateLimited(await postOne(ACME_KEY), 1);
    });

    it('charges a batch one token per event, and refuses a batch larger than the burst', async () => {
      nowMs += 10_000; // refilled to the burst (3), not beyond
      const two = await postBatch(ACME_KEY, 2);
      assert.equal(two.status, 202, JSON.stringify(two.body));
      assert.equal((two.body as unknown[]).length, 2);
      assertRateLimited(await postBatch(ACME_KEY, 2), 1); // one token left, two needed
      assert.equal((await postOne(ACME_KEY)).status, 202, 'the refused batch took nothing');
      assertRateLimited(await postBatch(ACME_KEY, 3), 2); // 3 tokens at 2/s: 1.5 s → 2

      const tooBig = await postBatch(ACME_KEY, 4);
      assert.equal(tooBig.status, 413);
      const problem = tooBig.body as Record<string, unknown>;
      assert.equal(problem.type, `${PROBLEM}batch-too-large`);
      assert.equal(problem.maxEvents, 3);
      assert.equal(tooBig.headers['retry-after'], undefined, 'retrying would not help');

      nowMs += 10_000;
      assert.equal((await postBatch(ACME_KEY, 0)).status, 202, 'an empty batch costs nothing');
    });

    it('keeps a bucket across config changes unless its limit changed', async () => {
      nowMs += 10_000;
      for (let i = 0; i < 3; i++) assert.equal((await postOne(ACME_KEY)).status, 202);
      assertRateLimited(await postOne(ACME_KEY), 1);

      // A change that leaves the limit alone (a new display name) keeps the empty bucket.
      const renamed = buildLimitedConfig();
      (renamed.producers.find((p) => p.name === 'acme') as CompiledProducer).displayName =
        'Acme Corp';
      await applyConfig(fx, renamed);
      assertRateLimited(await postOne(ACME_KEY), 1);

      // A new limit starts a new, full bucket.
      const raised = buildLimitedConfig({ eventsPerSecond: 2, burst: 5 });
      await applyConfig(fx, raised);
      for (let i = 0; i < 5; i++) assert.equal((await postOne(ACME_KEY)).status, 202);
      assertRateLimited(await postOne(ACME_KEY), 1);

      await applyConfig(fx, buildLimitedConfig());
    });
  });

  describe('slow requests and large headers', () => {
    const refusalsLogged = (status: number): Record<string, unknown>[] =>
      fx.logLines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((entry) => entry.msg === 'request refused' && entry.status === status);

    it('answers 408 request-timeout when a body stalls, and closes the connection', async () => {
      const conn = await openRawConnection(fx.broker.port);
      const body = JSON.stringify(orderEvent().toJSON());
      await conn.write(
        'POST /events HTTP/1.1\r\nHost: localhost\r\n' +
          `Authorization: Bearer ${ACME_KEY}\r\n` +
          'Content-Type: application/cloudevents+json\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` +
          body.slice(0, body.length / 2),
      );
      const res = await conn.readResponse();
      assert.equal(res.status, 408, res.body);
      assert.equal(res.headers.connection, 'close');
      assert.match(res.headers['content-type'] ?? '', /^application\/problem\+json/);
      const problem = JSON.parse(res.body) as Record<string, unknown>;
      assert.equal(problem.type, `${PROBLEM}request-timeout`);
      await conn.ended;
      const [logged] = refusalsLogged(408);
      assert.ok(logged, 'the refusal is logged');
      assert.equal(logged.producer, `${NS}/acme`);
      assert.match(String(logged.reason), /body incomplete/);
    });

    it('answers 408 when the headers stall (node headersTimeout)', async () => {
      const conn = await openRawConnection(fx.broker.port);
      await conn.write('POST /events HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/pl');
      const res = await conn.readResponse();
      assert.equal(res.status, 408);
      assert.equal(res.headers.connection, 'close');
      assert.equal((JSON.parse(res.body) as { type: string }).type, `${PROBLEM}request-timeout`);
      await conn.ended;
      assert.ok(
        refusalsLogged(408).some((e) => e.reason === 'ERR_HTTP_REQUEST_TIMEOUT'),
        'node-level refusals are logged too',
      );
    });

    it('answers 431 when the headers exceed maxHeaderSize', async () => {
      const res = await request(`${fx.url}/events`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${ACME_KEY}`,
          'content-type': 'application/cloudevents+json',
          'x-padding': 'p'.repeat(MAX_HEADER_BYTES),
        },
        body: '{}',
      });
      assert.equal(res.statusCode, 431);
      assert.equal(res.headers.connection, 'close');
      const problem = (await res.body.json()) as Record<string, unknown>;
      assert.equal(problem.type, `${PROBLEM}header-fields-too-large`);
      assert.equal(problem.status, 431);
      assert.ok(refusalsLogged(431).length > 0, 'the 431 is logged');
    });

    it('never logs a credential or a payload', () => {
      const all = fx.logLines.join('');
      for (const secret of [ACME_KEY, OTHER_KEY, BETA_KEY, 'orderId']) {
        assert.ok(!all.includes(secret), `a log line holds ${secret}`);
      }
      assert.ok(
        fx.logLines.some((l) => l.includes('"status":429') && l.includes('rate limited')),
        'every 429 is logged with its reason',
      );
    });
  });
});

import { strict as assert } from 'node:assert';
import { Readable } from 'node:stream';
import { CloudEvent, HTTP } from 'cloudevents';
import { request } from 'undici';
import { writeCompiledConfig, type ConfigChange } from '../../core/config/kv.js';
import { decodeStructured } from '../../core/cloudevents/index.js';
import { messageIdFor } from '../../core/topology.js';
import {
  ACME_KEY,
  NS,
  ORDER_CREATED,
  ORDER_SHIPPED,
  OTHER_KEY,
  buildBaseConfig,
  buildProducer,
  readLastMessage,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

const PROBLEM = 'https://herald.dev/problems/';
const MAX_BODY = 16 * 1024;

interface Posted {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

describe('broker HTTP ingest', function () {
  let fx: BrokerFixture;
  let seq = 0;
  const nextId = (): string => `evt-${Date.now()}-${++seq}`;

  before(async () => {
    fx = await startBrokerFixture({ maxBodyBytes: MAX_BODY });
  });
  after(() => fx?.stop());

  async function post(
    headers: Record<string, string>,
    body: string | Buffer,
    key: string | null = ACME_KEY,
  ): Promise<Posted> {
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: key === null ? headers : { ...headers, authorization: `Bearer ${key}` },
      body,
    });
    const text = await res.body.text();
    return {
      status: res.statusCode,
      headers: res.headers,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
    };
  }

  function orderEvent(overrides: Record<string, unknown> = {}): CloudEvent<unknown> {
    return new CloudEvent<unknown>({
      type: ORDER_CREATED.type,
      source: 'https://acme.example/shop/eu',
      id: nextId(),
      subject: 'eu-42',
      data: { orderId: 'o-1', total: 12.5 },
      ...overrides,
    });
  }

  function assertProblem(res: Posted, status: number, slug: string): void {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.equal(res.body.type, PROBLEM + slug);
    assert.equal(res.body.status, status);
    assert.equal(typeof res.body.title, 'string');
    assert.equal(typeof res.body.detail, 'string');
  }

  async function assertStoredAsSent(ce: CloudEvent<unknown>, sequence: number): Promise<void> {
    const { msg } = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
    assert.equal(msg.seq, sequence);
    assert.equal(msg.subject, ORDER_CREATED.subject);
    assert.equal(msg.header.get('Herald-Producer'), `${NS}/acme`);
    assert.equal(msg.header.get('Nats-Msg-Id'), messageIdFor(NS, ce.source, ce.id));
    // Herald's own decoder and the SDK (an independent peer) both read the stored body.
    const stored = decodeStructured(msg.data);
    for (const name of ['specversion', 'id', 'source', 'type', 'subject', 'time']) {
      assert.equal(stored.attributes[name], (ce as unknown as Record<string, unknown>)[name]);
    }
    assert.equal(stored.data?.kind, 'json');
    assert.deepEqual(stored.data?.value, ce.data);
    const peer = HTTP.toEvent({
      headers: { 'content-type': 'application/cloudevents+json' },
      body: msg.string(),
    }) as CloudEvent<unknown>;
    assert.equal(peer.id, ce.id);
    assert.deepEqual(peer.data, ce.data);
  }

  it('accepts a binary-mode event from the cloudevents SDK and stores it as sent', async () => {
    const ce = orderEvent();
    const message = HTTP.binary(ce);
    const res = await post(message.headers as Record<string, string>, message.body as string);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.match(String(res.headers['content-type']), /^application\/json/);
    assert.deepEqual(Object.keys(res.body).sort(), [
      'duplicate',
      'id',
      'sequence',
      'source',
      'type',
    ]);
    assert.equal(res.body.id, ce.id);
    assert.equal(res.body.source, ce.source);
    assert.equal(res.body.type, ce.type);
    assert.equal(res.body.duplicate, false);
    assert.equal(typeof res.body.sequence, 'number');
    await assertStoredAsSent(ce, res.body.sequence as number);
  });

  it('accepts a structured-mode event from the cloudevents SDK and stores it as sent', async () => {
    const ce = orderEvent({ data: { orderId: 'o-2', total: 0, note: 'ünïcødé ✓' } });
    const message = HTTP.structured(ce);
    const res = await post(message.headers as Record<string, string>, message.body as string);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.duplicate, false);
    await assertStoredAsSent(ce, res.body.sequence as number);
  });

  it('accepts application/cloudevents+json; charset=UTF-8 and X-API-Key', async () => {
    const id = nextId();
    const body = JSON.stringify({
      specversion: '1.0',
      id,
      source: 'https://acme.example/x',
      type: ORDER_SHIPPED.type,
      data: { shipped: true },
    });
    const res = await post(
      { 'content-type': 'application/cloudevents+json; charset=UTF-8', 'x-api-key': ACME_KEY },
      body,
      null,
    );
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.id, id);
    assert.equal(res.body.type, ORDER_SHIPPED.type);
  });

  it('recognises a repeated source+id as a duplicate with the original sequence', async () => {
    const ce = orderEvent();
    const message = HTTP.binary(ce);
    const before = (await fx.jsm.streams.info(ORDER_CREATED.stream)).state.messages;
    const first = await post(message.headers as Record<string, string>, message.body as string);
    const second = await post(message.headers as Record<string, string>, message.body as string);
    assert.equal(first.status, 202);
    assert.equal(second.status, 202);
    assert.equal(first.body.duplicate, false);
    assert.equal(second.body.duplicate, true);
    assert.equal(second.body.sequence, first.body.sequence);
    const after = (await fx.jsm.streams.info(ORDER_CREATED.stream)).state.messages;
    assert.equal(after, before + 1);
  });

  it('refuses data failing the schema with 422 listing every ajv error', async () => {
    const ce = orderEvent({ data: { total: -3 } });
    const message = HTTP.binary(ce);
    const res = await post(message.headers as Record<string, string>, message.body as string);
    assertProblem(res, 422, 'schema-validation-failed');
    assert.deepEqual(res.body.errors, [
      { instancePath: '', message: "must have required property 'orderId'" },
      { instancePath: '/total', message: 'must be >= 0' },
    ]);
    assert.match(String(res.body.detail), /\/orderId/);

    const only = orderEvent({ data: { orderId: 'o', total: -1 } });
    const m2 = HTTP.binary(only);
    const res2 = await post(m2.headers as Record<string, string>, m2.body as string);
    assertProblem(res2, 422, 'schema-validation-failed');
    assert.match(String(res2.body.detail), /\/total must be >= 0/);
  });

  it('refuses non-JSON data for a type with a schema (422)', async () => {
    const res = await post(
      {
        'content-type': 'text/plain',
        'ce-specversion': '1.0',
        'ce-id': nextId(),
        'ce-source': 'https://acme.example/x',
        'ce-type': ORDER_CREATED.type,
      },
      'not json',
    );
    assertProblem(res, 422, 'schema-validation-failed');
  });

  it('answers 401 with WWW-Authenticate for a missing or wrong key, never echoing it', async () => {
    const message = HTTP.binary(orderEvent());
    const missing = await post(
      message.headers as Record<string, string>,
      message.body as string,
      null,
    );
    assertProblem(missing, 401, 'unauthorized');
    assert.match(String(missing.headers['www-authenticate']), /^Bearer/);
    const wrongKey = 'wrong-key-SECRET-123456';
    const wrong = await post(
      message.headers as Record<string, string>,
      message.body as string,
      wrongKey,
    );
    assertProblem(wrong, 401, 'unauthorized');
    assert.match(String(wrong.headers['www-authenticate']), /^Bearer/);
    assert.ok(!JSON.stringify(wrong.body).includes(wrongKey));
    const logged = fx.logLines.join('');
    assert.match(logged, /"status":401/);
    assert.match(logged, /unauthorized/);
    assert.ok(!logged.includes(wrongKey), 'the API key must never be logged');
    assert.ok(!logged.includes(ACME_KEY), 'the API key must never be logged');
  });

  it('answers 403 for a type the producer may not publish and for a disallowed source', async () => {
    const forbiddenType = HTTP.binary(orderEvent());
    const res = await post(
      forbiddenType.headers as Record<string, string>,
      forbiddenType.body as string,
      OTHER_KEY,
    );
    assertProblem(res, 403, 'forbidden-type');
    const badSource = HTTP.binary(orderEvent({ source: 'https://evil.example/x' }));
    const res2 = await post(badSource.headers as Record<string, string>, badSource.body as string);
    assertProblem(res2, 403, 'forbidden-source');
    const lines = fx.logLines.filter((l) => l.includes('forbidden-source'));
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0] as string) as Record<string, unknown>;
    assert.equal(line.status, 403);
    assert.equal(line.producer, `${NS}/acme`);
    assert.equal(typeof line.reason, 'string');
    assert.ok(!(lines[0] as string).includes('o-1'), 'payloads are never logged');
  });

  it('answers 422 unknown-event-type for an unregistered type', async () => {
    const message = HTTP.binary(orderEvent({ type: 'com.example.never.registered' }));
    const res = await post(message.headers as Record<string, string>, message.body as string);
    assertProblem(res, 422, 'unknown-event-type');
  });

  it('answers 400 invalid-cloudevent for malformed events', async () => {
    const structured = { 'content-type': 'application/cloudevents+json' };
    const base = { specversion: '1.0', source: 'https://acme.example/x', type: ORDER_SHIPPED.type };
    const missingId = await post(structured, JSON.stringify(base));
    assertProblem(missingId, 400, 'invalid-cloudevent');
    assert.equal(missingId.body.attribute, 'id');
    const badVersion = await post(
      structured,
      JSON.stringify({ ...base, id: 'x', specversion: '7.0' }),
    );
    assertProblem(badVersion, 400, 'invalid-cloudevent');
    assert.equal(badVersion.body.attribute, 'specversion');
    const badJson = await post(structured, '{"specversion": "1.0", "id": ');
    assertProblem(badJson, 400, 'invalid-cloudevent');
    assert.equal(typeof badJson.body.code, 'string');
  });

  it('answers 415 for a content type that is no CloudEvent', async () => {
    const res = await post({ 'content-type': 'text/plain' }, 'hello');
    assertProblem(res, 415, 'unsupported-media-type');
  });

  it('answers 413 for a declared or streamed body over the limit', async () => {
    const big = Buffer.alloc(MAX_BODY + 1, 0x20);
    const declared = await post({ 'content-type': 'application/cloudevents+json' }, big);
    assertProblem(declared, 413, 'payload-too-large');

    const chunk = Buffer.alloc(4096, 0x20);
    let sent = 0;
    const stream = new Readable({
      read() {
        // Far more than the limit, without a Content-Length: the broker must stop reading.
        if (sent >= MAX_BODY * 64) return this.push(null);
        sent += chunk.length;
        this.push(chunk);
      },
    });
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents+json',
        authorization: `Bearer ${ACME_KEY}`,
      },
      body: stream,
    });
    assert.equal(res.statusCode, 413);
    const body = (await res.body.json()) as Record<string, unknown>;
    assert.equal(body.type, `${PROBLEM}payload-too-large`);
  });

  it('answers 503 with Retry-After when no stream takes the event', async () => {
    const message = HTTP.binary(
      new CloudEvent({ type: 'com.example.ghost', source: 'https://acme.example/g', id: nextId() }),
    );
    const res = await post(message.headers as Record<string, string>, message.body as string);
    assertProblem(res, 503, 'jetstream-unavailable');
    assert.ok(Number(res.headers['retry-after']) > 0);
  });

  it('serves health, 404 for unknown paths and 405 with Allow for wrong methods', async () => {
    const health = await request(`${fx.url}/healthz`);
    assert.equal(health.statusCode, 200);
    await health.body.dump();
    const ready = await request(`${fx.url}/readyz`);
    assert.equal(ready.statusCode, 200);
    await ready.body.dump();
    const missing = await request(`${fx.url}/nope`);
    assert.equal(missing.statusCode, 404);
    assert.equal(((await missing.body.json()) as { type: string }).type, `${PROBLEM}not-found`);
    const wrong = await request(`${fx.url}/events`, { method: 'GET' });
    assert.equal(wrong.statusCode, 405);
    assert.equal(wrong.headers.allow, 'POST');
    assert.equal(
      ((await wrong.body.json()) as { type: string }).type,
      `${PROBLEM}method-not-allowed`,
    );
  });

  it('exposes event counters with bounded labels on /metrics', async () => {
    const res = await request(`${fx.url}/metrics`);
    assert.equal(res.statusCode, 200);
    const text = await res.body.text();
    assert.match(
      text,
      /herald_broker_events_total\{namespace="shop",type="com\.example\.order\.created",producer="acme",outcome="accepted"\} [1-9]/,
    );
    assert.match(text, /outcome="duplicate"\} [1-9]/);
    assert.match(
      text,
      /namespace="unknown",type="unknown",producer="unknown",outcome="unauthorized"/,
    );
    assert.match(text, /type="unknown",producer="acme",outcome="unknown_type"/);
    assert.ok(!text.includes('never.registered'), 'client-chosen types never become labels');
    assert.match(text, /herald_broker_http_request_duration_seconds_bucket\{[^}]*route="\/events"/);
  });

  it('applies a new producer key written to KV without a restart', async () => {
    const newKey = 'late-key-5a6b7c8d9e0f1a2b';
    const message = HTTP.binary(orderEvent());
    const before = await post(
      message.headers as Record<string, string>,
      message.body as string,
      newKey,
    );
    assert.equal(before.status, 401);

    const config = buildBaseConfig();
    config.producers.push(buildProducer('late', [newKey], ['order-created'], []));
    const applied = new Promise<void>((resolve) => {
      const onChange = (change: ConfigChange): void => {
        if (change.key !== `producer.${NS}.late`) return;
        fx.broker.config.off('change', onChange);
        resolve();
      };
      fx.broker.config.on('change', onChange);
    });
    await writeCompiledConfig(fx.kv, config);
    await applied;
    const after = await post(
      message.headers as Record<string, string>,
      message.body as string,
      newKey,
    );
    assert.equal(after.status, 202, JSON.stringify(after.body));
    const stored = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
    assert.equal(stored.msg.header.get('Herald-Producer'), `${NS}/late`);
  });
});

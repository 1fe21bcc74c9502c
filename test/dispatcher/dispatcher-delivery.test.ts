/**
 * The dispatcher end to end over a real nats-server and a real HTTP sink: what a webhook
 * receives (binary and structured mode, Standard Webhooks signatures, sink auth), and retries.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { sealSecret } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import {
  buildSubscription,
  CE_TYPE,
  createCapturingLogger,
  ensureConsumer,
  ensureEventStream,
  publishEvent,
  startHarness,
  startTestSink,
  uniqueNamespace,
  waitForSettled,
  writeSubscriptions,
  type Harness,
  type TestSink,
} from './support.js';

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

describe('dispatcher delivery', () => {
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  const sinks: TestSink[] = [];

  before(async () => {
    h = await startHarness();
  });
  after(() => h.stop());
  afterEach(async () => {
    for (const s of sinks) s.release();
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function sinkWith(...args: Parameters<typeof startTestSink>): Promise<TestSink> {
    const sink = await startTestSink(...args);
    sinks.push(sink);
    return sink;
  }

  async function run(logger = createSilentLogger()): Promise<RunningDispatcher> {
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger,
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
    });
    return dispatcher;
  }

  it('delivers in binary mode with percent-encoded ce- headers, the data as body, and a webhook-id', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith();
    const sub = buildSubscription(ns, 'orders', sink.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    const subject = 'café "Zürich" 100%';
    const seq = await publishEvent(h.js, ns, {
      id: 'evt-1',
      subject,
      partnerref: 'p-7',
      data: { orderId: 'o-1', total: 12.5 },
    });
    const [req] = await sink.waitForRequests(1);
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/hook');
    assert.equal(req.headers['ce-specversion'], '1.0');
    assert.equal(req.headers['ce-id'], 'evt-1');
    assert.equal(req.headers['ce-type'], CE_TYPE);
    assert.equal(
      decodeURIComponent(String(req.headers['ce-source'])),
      'https://acme.example/orders',
    );
    const rawSubject = String(req.headers['ce-subject']);
    assert.match(rawSubject, /^[\x21-\x7e]+$/, 'space, quote and non-ASCII are percent-encoded');
    assert.ok(
      rawSubject.includes('%20') && rawSubject.includes('%25') && rawSubject.includes('%22'),
    );
    assert.equal(decodeURIComponent(rawSubject), subject);
    assert.equal(req.headers['ce-partnerref'], 'p-7');
    assert.match(String(req.headers['content-type']), /^application\/json/);
    assert.deepEqual(JSON.parse(req.text), { orderId: 'o-1', total: 12.5 });
    assert.match(String(req.headers['user-agent']), /^Herald\/\d+\.\d+\.\d+/);
    assert.match(String(req.headers['webhook-id']), /^msg_[A-Za-z0-9_-]{32}$/);
    const ts = Number(req.headers['webhook-timestamp']);
    assert.ok(Math.abs(ts - Date.now() / 1000) < 60);
    assert.equal(req.headers['webhook-signature'], undefined, 'unsigned when no secret is set');
    await waitForSettled(h.jsm, sub, seq);
  });

  it('delivers in structured mode as application/cloudevents+json; charset=utf-8', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith();
    const sub = buildSubscription(ns, 'orders', sink.url, { delivery: { mode: 'structured' } });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    await publishEvent(h.js, ns, { id: 'evt-s', subject: 'eu-1', data: { orderId: 'o-2' } });
    const [req] = await sink.waitForRequests(1);
    assert.ok(req);
    assert.equal(req.headers['content-type'], 'application/cloudevents+json; charset=utf-8');
    assert.equal(req.headers['ce-id'], undefined, 'no ce- headers in structured mode');
    const body = JSON.parse(req.text) as Record<string, unknown>;
    assert.equal(body.specversion, '1.0');
    assert.equal(body.id, 'evt-s');
    assert.equal(body.type, CE_TYPE);
    assert.equal(body.subject, 'eu-1');
    assert.deepEqual(body.data, { orderId: 'o-2' });
    assert.match(String(req.headers['webhook-id']), /^msg_/);
  });

  it('signs with every secret during rotation (verified by the standardwebhooks package) and sends sink auth', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith();
    const [oldSecret, newSecretValue] = [newSecret(), newSecret()];
    const sub = buildSubscription(ns, 'signed', sink.url, {
      sink: { auth: { apiKey: { header: 'X-Api-Key', value: sealSecret(h.configKey, 'k-123') } } },
      delivery: {
        signingSecrets: [
          sealSecret(h.configKey, oldSecret),
          sealSecret(h.configKey, newSecretValue),
        ],
      },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    await publishEvent(h.js, ns, { id: 'evt-sig', data: { orderId: 'o-3', note: 'ünïcødé' } });
    const [req] = await sink.waitForRequests(1);
    assert.ok(req);
    const headers = {
      'webhook-id': String(req.headers['webhook-id']),
      'webhook-timestamp': String(req.headers['webhook-timestamp']),
      'webhook-signature': String(req.headers['webhook-signature']),
    };
    assert.equal(headers['webhook-signature'].split(' ').length, 2);
    for (const secret of [oldSecret, newSecretValue]) {
      assert.deepEqual(new Webhook(secret).verify(req.text, headers), {
        orderId: 'o-3',
        note: 'ünïcødé',
      });
    }
    assert.throws(() => new Webhook(newSecret()).verify(req.text, headers));
    assert.equal(req.headers['x-api-key'], 'k-123');
  });

  it('retries a 500 after the backoff with the same webhook-id, then acks once', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith((_req, i) =>
      i === 0 ? { status: 500, body: 'boom' } : { status: 200 },
    );
    const secret = newSecret();
    const sub = buildSubscription(ns, 'flaky', sink.url, {
      delivery: { signingSecrets: [sealSecret(h.configKey, secret)] },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const { logger, lines } = createCapturingLogger();
    const d = await run(logger);

    const seq = await publishEvent(h.js, ns, { id: 'evt-r', data: { orderId: 'o-4' } });
    const [first, second] = await sink.waitForRequests(2);
    assert.ok(first && second);
    assert.equal(second.headers['webhook-id'], first.headers['webhook-id']);
    assert.equal(second.text, first.text);
    for (const r of [first, second]) {
      const hs = Object.fromEntries(
        ['webhook-id', 'webhook-timestamp', 'webhook-signature'].map((k) => [
          k,
          String(r.headers[k]),
        ]),
      );
      new Webhook(secret).verify(r.text, hs);
    }
    await waitForSettled(h.jsm, sub, seq);
    const info = await h.jsm.consumers.info(sub.consumers[0]!.stream, 'flaky');
    assert.equal(info.num_redelivered, 0, 'nothing left to redeliver');
    assert.equal(sink.requests.length, 2);

    const metrics = await d.registry.getSingleMetricAsString('herald_dispatcher_deliveries_total');
    assert.match(metrics, /outcome="retried",status_class="5xx"} 1/);
    assert.match(metrics, /outcome="delivered",status_class="2xx"} 1/);
    const failed = lines.filter((l) => l.msg === 'delivery attempt failed; retrying');
    assert.equal(failed.length, 1);
    assert.equal(failed[0]?.status, 500);
    assert.equal(failed[0]?.attempt, 1);
    assert.equal(typeof failed[0]?.delayMs, 'number');
    const all = JSON.stringify(lines);
    assert.ok(!all.includes(secret.slice(6)), 'no secret in logs');
    assert.ok(!all.includes('o-4'), 'no payload in logs');
    assert.ok(!all.includes('boom'), 'no response body in logs');
  });

  it('waits as long as Retry-After asks before retrying', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith((_req, i) =>
      i === 0 ? { status: 503, headers: { 'retry-after': '1' } } : { status: 200 },
    );
    const sub = buildSubscription(ns, 'throttled', sink.url, {
      delivery: { retry: { initialDelayMs: 1, maxDelayMs: 1 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    await publishEvent(h.js, ns, { id: 'evt-ra', data: {} });
    const [first, second] = await sink.waitForRequests(2);
    assert.ok(first && second);
    const gap = second.receivedAt - first.receivedAt;
    assert.ok(gap >= 950, `retried after ${gap} ms, Retry-After asked for 1000`);
  });

  it('keeps a delivery slower than ack_wait alive with in-progress acks (no redelivery mid-request)', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 200, delayMs: 2_500 }));
    const sub = buildSubscription(ns, 'slow', sink.url, { delivery: { timeoutMs: 5_000 } });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub, 1_000);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    const seq = await publishEvent(h.js, ns, { id: 'evt-slow', data: {} });
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1, 'JetStream did not redeliver while the POST ran');
  });

  it('stop() lets an in-flight delivery finish and acks it', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 200, delayMs: 300 }));
    const sub = buildSubscription(ns, 'draining', sink.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run();

    const seq = await publishEvent(h.js, ns, { id: 'evt-drain', data: {} });
    await sink.waitForRequests(1);
    await d.stop();
    dispatcher = undefined;
    const info = await h.jsm.consumers.info(sub.consumers[0]!.stream, 'draining');
    assert.equal(info.ack_floor.stream_seq, seq, 'acked before stop() resolved');
    assert.equal(info.num_ack_pending, 0);
  });
});

/**
 * The dead-letter sink (`delivery.deadLetter.sink`): dead letters POSTed there with their
 * heralderror* attributes, signed, retried with the subscription's policy, and given up on
 * without ever being dead-lettered again.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { decodeHeaderValue } from '../../core/cloudevents/index.js';
import { sealSecret } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import { DLQ_SINK_CONSUMER, DLQ_STREAM } from '../../core/topology.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import {
  countDeadLetters,
  ensureDeadLetterTopology,
  waitForDeadLetters,
  waitForDurableIdle,
} from './dead-letter-support.js';
import {
  buildSubscription,
  CE_TYPE,
  ensureConsumer,
  ensureEventStream,
  publishEvent,
  startHarness,
  startTestSink,
  uniqueNamespace,
  waitForSettled,
  writeSubscriptions,
  type Harness,
  type SinkResponder,
  type TestSink,
} from './support.js';

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

describe('dead-letter sink', function () {
  this.timeout(40_000);
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  const sinks: TestSink[] = [];

  before(async () => {
    h = await startHarness();
    await ensureDeadLetterTopology(h.jsm);
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function sinkWith(respond: SinkResponder): Promise<TestSink> {
    const sink = await startTestSink(respond);
    sinks.push(sink);
    return sink;
  }

  async function run(subs: Parameters<typeof writeSubscriptions>[1]): Promise<void> {
    for (const sub of subs) {
      await ensureEventStream(h.jsm, sub.namespace);
      await ensureConsumer(h.jsm, sub);
    }
    await writeSubscriptions(h.kv, subs);
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
    });
  }

  /** The dead-letter sink counter for one label set (any label order), 0 when absent. */
  async function sinkMetric(labels: Record<string, string>): Promise<number> {
    const metric = await dispatcher!.registry
      .getSingleMetric('herald_dispatcher_dead_letter_sink_deliveries_total')!
      .get();
    const found = metric.values.find((v) =>
      Object.entries(labels).every(([k, want]) => v.labels[k] === want),
    );
    return found?.value ?? 0;
  }

  it('POSTs a dead letter to the dead-letter sink with heralderror* attributes, signed, without the sink’s credentials', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 422, body: 'order total missing' }));
    const deadLetterSink = await sinkWith(() => ({ status: 204 }));
    const secret = newSecret();
    const sub = buildSubscription(ns, 'orders', sink.url, {
      sink: { auth: { apiKey: { header: 'X-Api-Key', value: sealSecret(h.configKey, 'k-1') } } },
      delivery: {
        signingSecrets: [sealSecret(h.configKey, secret)],
        deadLetterSinkUri: deadLetterSink.url,
      },
    });
    await run([sub]);
    const seq = await publishEvent(h.js, ns, {
      id: 'evt-dl-1',
      subject: 'eu-1',
      data: { orderId: 'o-1' },
    });

    const [req] = await deadLetterSink.waitForRequests(1);
    assert.ok(req);
    assert.equal(req.method, 'POST');
    // Binary mode: the original event's attributes and the error attributes as ce- headers.
    assert.equal(req.headers['ce-id'], 'evt-dl-1');
    assert.equal(req.headers['ce-type'], CE_TYPE);
    assert.equal(req.headers['ce-subject'], 'eu-1');
    assert.equal(req.headers['ce-heralderrorcode'], 'rejected');
    assert.equal(req.headers['ce-heralderrorstatus'], '422');
    assert.equal(req.headers['ce-heralderrorattempts'], '1');
    assert.match(
      decodeHeaderValue(String(req.headers['ce-heralderrorreason']), 'ce-heralderrorreason'),
      /HTTP 422/,
    );
    assert.equal(req.headers['ce-heralderrorbody'], 'order%20total%20missing');
    assert.deepEqual(JSON.parse(req.text), { orderId: 'o-1' });
    const headers = {
      'webhook-id': String(req.headers['webhook-id']),
      'webhook-timestamp': String(req.headers['webhook-timestamp']),
      'webhook-signature': String(req.headers['webhook-signature']),
    };
    assert.deepEqual(new Webhook(secret).verify(req.text, headers), { orderId: 'o-1' });
    assert.notEqual(
      headers['webhook-id'],
      sink.requests[0]?.headers['webhook-id'],
      'the dead letter is a message of its own',
    );
    assert.equal(
      req.headers['x-api-key'],
      undefined,
      'the sink’s key is not sent to another origin',
    );

    await waitForSettled(h.jsm, sub, seq);
    await waitForDurableIdle(h.jsm, DLQ_STREAM, DLQ_SINK_CONSUMER);
    assert.equal(deadLetterSink.requests.length, 1);
    assert.equal(await countDeadLetters(h.jsm, ns, 'orders'), 1, 'HERALD_DLQ keeps it too');
    assert.equal(await sinkMetric({ subscription: 'orders', outcome: 'delivered' }), 1);
  });

  it('sends the sink’s credentials to a dead-letter sink on the same origin', async () => {
    const ns = uniqueNamespace();
    const server = await sinkWith((req) => ({ status: req.path === '/dead' ? 200 : 400 }));
    const sub = buildSubscription(ns, 'same-origin', server.url, {
      sink: { auth: { bearer: { token: sealSecret(h.configKey, 'tok-1') } } },
      delivery: { deadLetterSinkUri: server.url.replace('/hook', '/dead') },
    });
    await run([sub]);
    await publishEvent(h.js, ns, { id: 'evt-same', data: {} });
    const [, dead] = await server.waitForRequests(2);
    assert.equal(dead?.path, '/dead');
    assert.equal(dead?.headers.authorization, 'Bearer tok-1');
  });

  it('retries a failing dead-letter sink with the subscription’s policy, then gives up without dead-lettering again', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 400 }));
    const deadLetterSink = await sinkWith(() => ({ status: 503 }));
    const sub = buildSubscription(ns, 'broken', sink.url, {
      delivery: { deadLetterSinkUri: deadLetterSink.url, retry: { maxAttempts: 3 } },
    });
    await run([sub]);
    await publishEvent(h.js, ns, { id: 'evt-dl-2', data: {} });

    await deadLetterSink.waitForRequests(3);
    await waitForDeadLetters(h.jsm, ns, 'broken', 1);
    // Idle means acked: JetStream will not hand the dead letter out again.
    await waitForDurableIdle(h.jsm, DLQ_STREAM, DLQ_SINK_CONSUMER);
    assert.equal(deadLetterSink.requests.length, 3, 'retry.maxAttempts POSTs, no more');
    const ids = new Set(deadLetterSink.requests.map((r) => r.headers['webhook-id']));
    assert.equal(ids.size, 1, 'one webhook-id across the retries');
    assert.equal(await countDeadLetters(h.jsm, ns, 'broken'), 1, 'never dead-lettered again');
    assert.equal(await sinkMetric({ subscription: 'broken', outcome: 'retried' }), 2);
    assert.equal(await sinkMetric({ subscription: 'broken', outcome: 'given_up' }), 1);
  });

  it('treats a 410 from the dead-letter sink as its failure: no pause, the subscription keeps delivering', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith((req) =>
      req.headers['ce-id'] === 'evt-bad' ? { status: 400 } : { status: 200 },
    );
    const deadLetterSink = await sinkWith(() => ({ status: 410 }));
    const sub = buildSubscription(ns, 'gone-dls', sink.url, {
      delivery: { deadLetterSinkUri: deadLetterSink.url, ordering: 'ordered' },
    });
    await run([sub]);
    await publishEvent(h.js, ns, { id: 'evt-bad', data: {} });
    await deadLetterSink.waitForRequests(1);
    await waitForDurableIdle(h.jsm, DLQ_STREAM, DLQ_SINK_CONSUMER);
    const seq = await publishEvent(h.js, ns, { id: 'evt-good', data: {} });
    await sink.waitForRequests(2);
    await waitForSettled(h.jsm, sub, seq);
    assert.deepEqual(
      sink.requests.map((r) => r.headers['ce-id']),
      ['evt-bad', 'evt-good'],
    );
    assert.equal(deadLetterSink.requests.length, 1, 'a 410 is not retried');
    assert.equal(
      await sinkMetric({ subscription: 'gone-dls', outcome: 'given_up', status_class: '4xx' }),
      1,
    );
  });

  it('sends nothing for a subscription without a dead-letter sink', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 400 }));
    const other = await sinkWith(() => ({ status: 200 }));
    // `other` is some subscription's dead-letter sink, but not this one's.
    const withSink = buildSubscription(ns, 'with', other.url.replace('/hook', '/unused'), {
      eventTypes: ['unused-type'],
      delivery: { deadLetterSinkUri: other.url },
    });
    const without = buildSubscription(ns, 'without', sink.url);
    await ensureEventStream(h.jsm, ns, 'unused-type');
    await run([without, withSink]);
    await publishEvent(h.js, ns, { id: 'evt-nowhere', data: {} });
    await waitForDeadLetters(h.jsm, ns, 'without', 1);
    await waitForDurableIdle(h.jsm, DLQ_STREAM, DLQ_SINK_CONSUMER);
    assert.equal(other.requests.length, 0);
  });
});

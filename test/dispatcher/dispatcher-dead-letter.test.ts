/**
 * Dead letters end to end: what is given up on at once (4xx, redirects), after the last attempt,
 * and what lands in HERALD_DLQ.
 */
import { strict as assert } from 'node:assert';
import type { Msg } from '@nats-io/transport-node';
import { decodeStructured } from '../../core/cloudevents/index.js';
import { createSilentLogger } from '../../core/logging.js';
import { DLQ_STREAM, DLQ_SUBJECTS, dlqSubjectFor } from '../../core/topology.js';
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
  waitFor,
  waitForSettled,
  writeSubscriptions,
  type Harness,
  type TestSink,
} from './support.js';

describe('dispatcher dead letters', () => {
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  const sinks: TestSink[] = [];

  before(async () => {
    h = await startHarness();
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function setUp(
    name: string,
    respond: Parameters<typeof startTestSink>[0],
    overrides: Parameters<typeof buildSubscription>[3] = {},
  ) {
    const ns = uniqueNamespace();
    const sink = await startTestSink(respond);
    sinks.push(sink);
    const sub = buildSubscription(ns, name, sink.url, overrides);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    // Listen before anything is delivered: the dead letter is the event to await.
    const deadLetter = nextMessage(dlqSubjectFor(ns, name));
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
    });
    return { ns, sink, sub, deadLetter };
  }

  function nextMessage(subject: string): Promise<Msg> {
    const subscription = h.nc.subscribe(subject, { max: 1 });
    return (async () => {
      for await (const m of subscription) return m;
      throw new Error(`no message on ${subject}`);
    })();
  }

  it('dead-letters a 400 at once, with heralderror* attributes and the original event', async () => {
    const longBody = 'x'.repeat(3_000);
    const { ns, sink, sub, deadLetter } = await setUp('rejecting', () => ({
      status: 400,
      // Control characters are not allowed in CloudEvents strings: they become spaces.
      body: `invalid order:\r\n\t${longBody}`,
    }));
    const seq = await publishEvent(h.js, ns, {
      id: 'evt-400',
      subject: 'eu-1',
      data: { orderId: 'o-1' },
    });
    const msg = await deadLetter;
    // A dead letter is a valid CloudEvent: Herald's own strict codec reads it.
    assert.equal(decodeStructured(msg.data).attributes.id, 'evt-400');
    const dl = msg.json<Record<string, unknown>>();
    assert.equal(dl.id, 'evt-400');
    assert.equal(dl.type, CE_TYPE);
    assert.equal(dl.source, 'https://acme.example/orders');
    assert.equal(dl.subject, 'eu-1');
    assert.deepEqual(dl.data, { orderId: 'o-1' });
    assert.equal(dl.heralderrorcode, 'rejected');
    assert.equal(dl.heralderrorstatus, 400);
    assert.equal(dl.heralderrorattempts, 1);
    assert.match(String(dl.heralderrorreason), /HTTP 400/);
    const excerpt = String(dl.heralderrorbody);
    assert.ok(excerpt.startsWith('invalid order:   xxx'), excerpt.slice(0, 30));
    assert.ok(Buffer.byteLength(excerpt) <= 1024, 'excerpt is at most 1 KiB');
    assert.equal(msg.headers?.get('Herald-Subscription'), `${ns}/rejecting`);
    assert.equal(msg.headers?.get('Herald-Source-Sequence'), String(seq));
    assert.equal(msg.headers?.get('Herald-Producer'), 'acme');

    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1, 'exactly one attempt');
    const stored = await h.jsm.streams.getMessage(DLQ_STREAM, {
      last_by_subj: dlqSubjectFor(ns, 'rejecting'),
    });
    assert.ok(stored);
    assert.equal(stored.json<Record<string, unknown>>().id, 'evt-400');
  });

  it('dead-letters after maxAttempts retryable failures', async () => {
    const { ns, sink, sub, deadLetter } = await setUp('down', () => ({ status: 503 }), {
      delivery: { retry: { maxAttempts: 3 } },
    });
    const seq = await publishEvent(h.js, ns, { id: 'evt-503', data: {} });
    const dl = (await deadLetter).json<Record<string, unknown>>();
    assert.equal(dl.heralderrorcode, 'attempts_exhausted');
    assert.equal(dl.heralderrorattempts, 3);
    assert.equal(dl.heralderrorstatus, 503);
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 3);
    const ids = new Set(sink.requests.map((r) => r.headers['webhook-id']));
    assert.equal(ids.size, 1, 'one webhook-id across every attempt');
  });

  it('does not follow a redirect: one request, then a dead letter', async () => {
    const { ns, sink, sub, deadLetter } = await setUp('moved', (req) =>
      req.path === '/hook' ? { status: 302, headers: { location: '/elsewhere' } } : { status: 200 },
    );
    const seq = await publishEvent(h.js, ns, { id: 'evt-302', data: {} });
    const dl = (await deadLetter).json<Record<string, unknown>>();
    assert.equal(dl.heralderrorcode, 'redirect_not_followed');
    assert.equal(dl.heralderrorstatus, 302);
    await waitForSettled(h.jsm, sub, seq);
    assert.deepEqual(
      sink.requests.map((r) => r.path),
      ['/hook'],
    );
  });

  it('dead-letters after network failures, without a status', async () => {
    // A port nothing listens on: every attempt is a connection error.
    const closed = await startTestSink();
    const url = closed.url;
    await closed.stop();
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'unreachable', url, {
      delivery: { retry: { maxAttempts: 2 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const deadLetter = nextMessage(dlqSubjectFor(ns, 'unreachable'));
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
    });
    await publishEvent(h.js, ns, { id: 'evt-net', data: {} });
    const dl = (await deadLetter).json<Record<string, unknown>>();
    assert.equal(dl.heralderrorcode, 'attempts_exhausted');
    assert.equal(dl.heralderrorattempts, 2);
    assert.equal(dl.heralderrorstatus, undefined);
    assert.match(String(dl.heralderrorreason), /^network: /);
  });

  it('terminates a stored message that is not a CloudEvent, and goes on with the next', async () => {
    const { ns, sink, sub } = await setUp('strict', () => ({ status: 200 }), {
      delivery: { ordering: 'ordered' },
    });
    await h.js.publish(`herald.evt.${ns}.order-created`, 'not json at all');
    const seq = await publishEvent(h.js, ns, { id: 'evt-ok', data: {} });
    const [req] = await sink.waitForRequests(1);
    assert.equal(req?.headers['ce-id'], 'evt-ok');
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1);
    const skipped = await dispatcher!.registry.getSingleMetricAsString(
      'herald_dispatcher_events_skipped_total',
    );
    assert.match(skipped, /reason="undecodable"} 1/);
  });

  /** The latest dead letter of a subscription in HERALD_DLQ, once there is one. */
  function storedDeadLetter(ns: string, name: string, timeoutMs = 20_000) {
    return waitFor(
      () =>
        h.jsm.streams
          .getMessage(DLQ_STREAM, { last_by_subj: dlqSubjectFor(ns, name) })
          .then((m) => m ?? undefined)
          .catch(() => undefined),
      `a dead letter for ${name}`,
      timeoutMs,
    );
  }

  const restoreDeadLetterStream = () =>
    h.jsm.streams.add({ name: DLQ_STREAM, subjects: [DLQ_SUBJECTS] });

  it('dead-letters on the spare delivery when HERALD_DLQ refused the dead letter at the last attempt', async function () {
    this.timeout(30_000);
    const ns = uniqueNamespace();
    const sink = await startTestSink(() => ({ status: 503 }));
    sinks.push(sink);
    const sub = buildSubscription(ns, 'dlq-down', sink.url, {
      delivery: { retry: { maxAttempts: 2 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const { logger, lines } = createCapturingLogger();
    await h.jsm.streams.delete(DLQ_STREAM);
    let seq: number;
    try {
      dispatcher = await startDispatcher({
        natsUrl: h.nats.url,
        configKey: h.configKey,
        logger,
        allowPrivateSinks: true,
      });
      seq = await publishEvent(h.js, ns, { id: 'evt-dlq-down', data: {} });
      await sink.waitForRequests(2);
      await waitFor(
        () =>
          lines.some(
            (l) => l.msg === 'cannot publish the dead letter; giving the event back to JetStream',
          )
            ? true
            : undefined,
        'the dead letter to fail at the last attempt',
      );
    } finally {
      await restoreDeadLetterStream();
    }
    const stored = await storedDeadLetter(ns, 'dlq-down');
    const dl = stored.json<Record<string, unknown>>();
    assert.equal(dl.id, 'evt-dlq-down');
    assert.equal(dl.heralderrorcode, 'attempts_exhausted');
    assert.equal(dl.heralderrorattempts, 2);
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 2, 'no POST on the spare delivery');
  });

  it('only dead-letters a delivery past maxAttempts (no POST), retrying HERALD_DLQ until it takes it', async function () {
    this.timeout(30_000);
    const ns = uniqueNamespace();
    const sink = await startTestSink(() => ({ status: 200 }));
    sinks.push(sink);
    const sub = buildSubscription(ns, 'crashed', sink.url, {
      delivery: { retry: { maxAttempts: 2 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub, 2_000);
    await writeSubscriptions(h.kv, [sub]);
    const seq = await publishEvent(h.js, ns, { id: 'evt-crashed', data: {} });
    // Two attempts whose dispatcher died before settling them: delivered, never acked.
    const consumer = await h.js.consumers.get(sub.consumers[0]!.stream, 'crashed');
    for (let delivery = 1; delivery <= 2; delivery++) {
      const m = await consumer.next({ expires: 5_000 });
      assert.equal(m?.info.deliveryCount, delivery);
      m?.nak();
    }
    // And HERALD_DLQ is away when the spare delivery comes: it keeps the message and retries.
    const { logger, lines } = createCapturingLogger();
    await h.jsm.streams.delete(DLQ_STREAM);
    try {
      dispatcher = await startDispatcher({
        natsUrl: h.nats.url,
        configKey: h.configKey,
        logger,
        allowPrivateSinks: true,
      });
      await waitFor(
        () =>
          lines.some((l) =>
            String(l.msg).startsWith('cannot publish the dead letter on the last delivery'),
          )
            ? true
            : undefined,
        'the spare delivery to fail to dead-letter',
      );
      await new Promise((r) => setTimeout(r, 3_000)); // longer than ack_wait: kept alive meanwhile
    } finally {
      await restoreDeadLetterStream();
    }
    const dl = (await storedDeadLetter(ns, 'crashed')).json<Record<string, unknown>>();
    assert.equal(dl.id, 'evt-crashed');
    assert.equal(dl.heralderrorcode, 'attempts_exhausted');
    assert.equal(dl.heralderrorattempts, 2);
    assert.match(String(dl.heralderrorreason), /no attempt left/);
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 0, 'a delivery past maxAttempts never POSTs');
  });
});

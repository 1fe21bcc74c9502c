/**
 * Dead letters end to end: what is given up on at once (4xx, redirects), after the last attempt,
 * and what lands in HERALD_DLQ.
 */
import { strict as assert } from 'node:assert';
import type { Msg } from '@nats-io/transport-node';
import { createSilentLogger } from '../../core/logging.js';
import { DLQ_STREAM, dlqSubjectFor } from '../../core/topology.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
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
      body: `invalid order: ${longBody}`,
    }));
    const seq = await publishEvent(h.js, ns, {
      id: 'evt-400',
      subject: 'eu-1',
      data: { orderId: 'o-1' },
    });
    const msg = await deadLetter;
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
    assert.ok(excerpt.startsWith('invalid order: xxx'));
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
});

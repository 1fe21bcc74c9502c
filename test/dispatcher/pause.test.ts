/**
 * Pausing and resuming, through real dispatchers, a real nats-server and real sinks: a 410
 * pauses at once on every replica, the events wait in JetStream (nothing acked) and arrive in
 * order once resumed — by `herald resume`, or by an edit of the Subscription (a new
 * generation); only failures for `autoPauseAfter` pause too.
 */
import { strict as assert } from 'node:assert';
import type { KV } from '@nats-io/kv';
import { runResumeCommand } from '../../cli/status-command.js';
import {
  openDeliveryStateBucket,
  PauseCode,
  readDeliveryState,
  type DeliveryState,
} from '../../core/delivery-state.js';
import { createSilentLogger } from '../../core/logging.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import {
  buildSubscription,
  ensureConsumer,
  ensureEventStream,
  publishEvent,
  startHarness,
  startTestSink,
  uniqueNamespace,
  waitFor,
  writeSubscriptions,
  type Harness,
  type RecordedRequest,
  type TestSink,
} from './support.js';

describe('pausing and resuming subscriptions', function () {
  this.timeout(90_000);
  let h: Harness;
  let states: KV;
  const dispatchers: RunningDispatcher[] = [];
  const sinks: TestSink[] = [];

  before(async () => {
    h = await startHarness();
    states = await openDeliveryStateBucket(h.js);
  });
  after(() => h.stop());
  afterEach(async () => {
    await Promise.all(dispatchers.splice(0).map((d) => d.stop()));
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function run(): Promise<RunningDispatcher> {
    const d = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
      attemptsLog: false,
    });
    dispatchers.push(d);
    return d;
  }

  async function sinkWith(...args: Parameters<typeof startTestSink>): Promise<TestSink> {
    const sink = await startTestSink(...args);
    sinks.push(sink);
    return sink;
  }

  function waitForState(
    ns: string,
    name: string,
    check: (s: DeliveryState | undefined) => boolean,
    what: string,
  ): Promise<DeliveryState | undefined> {
    return waitFor(
      async () => {
        const s = (await readDeliveryState(states, ns, name))?.state;
        return check(s) ? { s } : undefined;
      },
      `${ns}/${name} delivery state: ${what}`,
      45_000,
    ).then((v) => v.s);
  }

  async function gauge(
    d: RunningDispatcher,
    metric: string,
    ns: string,
    sub: string,
  ): Promise<number | undefined> {
    const m = await d.registry.getSingleMetric(metric)?.get();
    return m?.values.find((v) => v.labels.namespace === ns && v.labels.subscription === sub)?.value;
  }

  /** Resolves once `d` runs no consume loop for the subscription. */
  function waitForStopped(d: RunningDispatcher, ns: string, sub: string): Promise<true> {
    return waitFor(
      async () =>
        ((await gauge(d, 'herald_dispatcher_consumer_loops', ns, sub)) ?? 0) === 0 || undefined,
      `${ns}/${sub} to run nowhere`,
      30_000,
    );
  }

  async function resume(ns: string, name: string): Promise<string[]> {
    const out: string[] = [];
    const code = await runResumeCommand({
      values: { nats: h.nats.url, subscription: `${ns}/${name}` },
      usage: '',
      out: (l) => out.push(l),
      err: (l) => out.push(l),
    });
    assert.equal(code, 0, out.join('\n'));
    return out;
  }

  const ids = (requests: RecordedRequest[]): string[] =>
    requests.map((r) => String(r.headers['ce-id']));

  it('pauses at once on a 410, on every replica; the events wait, nothing acked, and arrive in order after herald resume', async () => {
    const ns = uniqueNamespace();
    let gone = true;
    const sink = await sinkWith(() => ({ status: gone ? 410 : 204 }));
    const control = await sinkWith();
    const sub = buildSubscription(ns, 'gone', sink.url, { delivery: { ordering: 'ordered' } });
    const other = buildSubscription(ns, 'other', control.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await ensureConsumer(h.jsm, other);
    await writeSubscriptions(h.kv, [sub, other]);
    const [a, b] = [await run(), await run()];

    await publishEvent(h.js, ns, { id: 'e1' });
    const paused = await waitForState(ns, 'gone', (s) => s?.pausedReason !== undefined, 'paused');
    assert.equal(paused?.pausedCode, PauseCode.SinkGone);
    assert.match(paused?.pausedReason ?? '', /HTTP 410/);
    assert.equal(paused?.pausedGeneration, 1);
    assert.equal(paused?.lastStatus, 410);
    assert.equal(sink.requests.length, 1, 'no retry after a 410');
    await waitForStopped(a, ns, 'gone');
    await waitForStopped(b, ns, 'gone');
    // A replica started while the subscription is paused does not start it either.
    const c = await run();
    assert.equal((await gauge(c, 'herald_dispatcher_consumer_loops', ns, 'gone')) ?? 0, 0);
    assert.equal(await gauge(c, 'herald_dispatcher_subscription_paused', ns, 'gone'), 1);

    // Events keep arriving meanwhile; the other subscription on the same stream gets them.
    await publishEvent(h.js, ns, { id: 'e2' });
    await publishEvent(h.js, ns, { id: 'e3' });
    await control.waitForRequests(3);
    assert.equal(sink.requests.length, 1, 'nothing delivered while paused, on any replica');
    const consumer = await h.jsm.consumers.info(sub.consumers[0]!.stream, 'gone');
    assert.equal(consumer.ack_floor.stream_seq, 0, 'nothing acked while paused');

    gone = false;
    const said = await resume(ns, 'gone');
    assert.match(said.join('\n'), /resumed .*\/gone/);
    const requests = await sink.waitForRequests(4, 30_000);
    assert.deepEqual(ids(requests.slice(1)), ['e1', 'e2', 'e3'], 'from where it stopped, in order');
    const after = await waitForState(
      ns,
      'gone',
      (s) => s?.consecutiveFailures === 0,
      'healthy again',
    );
    assert.equal(after?.pausedReason, undefined);
    assert.ok(after?.resumedAt, 'the resume is on record');
    assert.equal(after?.lastStatus, 204);
  });

  it('resumes when the Subscription is edited after the pause (a new generation), e.g. a fixed sink URL', async () => {
    const ns = uniqueNamespace();
    const oldSink = await sinkWith(() => ({ status: 410 }));
    const newSink = await sinkWith();
    const sub = buildSubscription(ns, 'moved', oldSink.url, { delivery: { ordering: 'ordered' } });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run();

    await publishEvent(h.js, ns, { id: 'm1' });
    await waitForState(ns, 'moved', (s) => s?.pausedReason !== undefined, 'paused');
    await waitForStopped(d, ns, 'moved');
    await publishEvent(h.js, ns, { id: 'm2' });

    // spec.paused is untouched: the edit itself lifts the pause taken at generation 1.
    await writeSubscriptions(h.kv, [
      { ...sub, generation: 2, sink: { ...sub.sink, uri: newSink.url } },
    ]);
    const requests = await newSink.waitForRequests(2, 30_000);
    assert.deepEqual(ids(requests), ['m1', 'm2']);
    assert.equal(oldSink.requests.length, 1);
    const after = await waitForState(
      ns,
      'moved',
      (s) => s?.pausedReason === undefined && s?.consecutiveFailures === 0,
      'resumed by the edit',
    );
    assert.equal(after?.generation, 2);
    assert.ok(after?.resumedAt);
  });

  it('pauses after autoPauseAfter of only failures, keeps the events, and resumes from where it stopped', async () => {
    const ns = uniqueNamespace();
    let status = 503;
    const sink = await sinkWith(() => ({ status }));
    const sub = buildSubscription(ns, 'broken', sink.url, {
      delivery: {
        ordering: 'ordered',
        autoPauseAfterMs: 1_500,
        retry: { maxAttempts: 1_000, initialDelayMs: 20, maxDelayMs: 100 },
      },
    });
    await ensureEventStream(h.jsm, ns);
    // A retry nak that lands just as the loop stops can be handed by nats-server 2.9 to the
    // closing pull, and then waits for ack_wait (docs/delivery.md): keep that wait short here.
    await ensureConsumer(h.jsm, sub, 8_000);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run();

    await publishEvent(h.js, ns, { id: 'b1' });
    await publishEvent(h.js, ns, { id: 'b2' });
    const paused = await waitForState(
      ns,
      'broken',
      (s) => s?.pausedReason !== undefined,
      'auto-paused',
    );
    assert.equal(paused?.pausedCode, PauseCode.FailingTooLong);
    assert.match(paused?.pausedReason ?? '', /only failed attempts for .*autoPauseAfter is 1\.5s/);
    assert.ok(
      Date.parse(paused?.pausedAt ?? '') - Date.parse(paused?.failingSince ?? '') >= 1_500,
      'paused only once the failures had lasted autoPauseAfter',
    );
    await waitForStopped(d, ns, 'broken');
    assert.equal(await gauge(d, 'herald_dispatcher_subscription_paused', ns, 'broken'), 1);
    const attemptsWhilePaused = sink.requests.length;
    assert.ok(
      ids(sink.requests).every((id) => id === 'b1'),
      'ordered: b2 waits behind b1',
    );
    const consumer = await h.jsm.consumers.info(sub.consumers[0]!.stream, 'broken');
    assert.equal(consumer.ack_floor.stream_seq, 0, 'nothing acked, nothing dead-lettered');

    status = 200;
    await resume(ns, 'broken');
    const requests = await sink.waitForRequests(attemptsWhilePaused + 2, 30_000);
    assert.deepEqual(ids(requests.slice(attemptsWhilePaused)), ['b1', 'b2']);
    await waitFor(
      async () =>
        (await gauge(d, 'herald_dispatcher_subscription_paused', ns, 'broken')) === 0 || undefined,
      'the paused gauge back at 0',
    );
  });
});

/**
 * The dispatcher follows the live config: filters, subscriptions added/changed/removed while it
 * runs, consumers that appear late, and isolation between subscriptions.
 */
import { strict as assert } from 'node:assert';
import { ConfigCache } from '../../core/config/kv.js';
import { createSilentLogger } from '../../core/logging.js';
import { ConfigKeyPrefix, configKeyFor } from '../../core/topology.js';
import { SinkClients } from '../../dispatcher/deliver.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { createDispatcherMetrics } from '../../dispatcher/metrics.js';
import { SubscriptionSupervisor } from '../../dispatcher/supervisor.js';
import {
  buildSubscription,
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

describe('dispatcher and the live config', () => {
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

  async function loopsOf(d: RunningDispatcher, namespace: string, name: string): Promise<number> {
    const metric = await d.registry.getSingleMetric('herald_dispatcher_consumer_loops')?.get();
    const v = metric?.values.find(
      (x) => x.labels.namespace === namespace && x.labels.subscription === name,
    );
    return v?.value ?? 0;
  }

  it('delivers only events matching exact/prefix/suffix/not/any/all filters', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith();
    // Ordered: one at a time in stream order, so when the last event arrives all were decided.
    const sub = buildSubscription(ns, 'filtered', sink.url, {
      delivery: { ordering: 'ordered' },
      filters: [
        { prefix: { source: 'https://acme.example/' } },
        { not: { exact: { priority: 'low' } } },
        { any: [{ exact: { region: 'eu' } }, { exact: { region: 'us' } }] },
        { all: [{ suffix: { subject: '-ok' } }, { exact: { type: 'com.example.order.created' } }] },
      ],
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    const events = [
      { id: 'match-1', subject: 'a-ok', region: 'eu' },
      { id: 'other-source', source: 'https://evil.example/x', subject: 'a-ok', region: 'eu' },
      { id: 'low-priority', subject: 'a-ok', region: 'eu', priority: 'low' },
      { id: 'wrong-region', subject: 'a-ok', region: 'apac' },
      { id: 'no-region', subject: 'a-ok' },
      { id: 'bad-subject', subject: 'a-bad', region: 'us' },
      { id: 'match-2', subject: 'b-ok', region: 'us', priority: 'high' },
    ];
    let last = 0;
    for (const e of events) last = await publishEvent(h.js, ns, { ...e, data: {} });
    await sink.waitForRequests(2);
    await waitForSettled(h.jsm, sub, last);
    assert.deepEqual(
      sink.requests.map((r) => r.headers['ce-id']),
      ['match-1', 'match-2'],
    );
    const skipped = await dispatcher!.registry.getSingleMetricAsString(
      'herald_dispatcher_events_skipped_total',
    );
    assert.match(skipped, /reason="filtered"} 5/);
  });

  it('starts, updates, restarts and stops subscriptions as the config changes, without a restart', async () => {
    const ns = uniqueNamespace();
    const [sinkA, sinkB, sinkC] = [await sinkWith(), await sinkWith(), await sinkWith()];
    const a = buildSubscription(ns, 'sub-a', sinkA.url);
    const b = buildSubscription(ns, 'sub-b', sinkB.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, a);
    await writeSubscriptions(h.kv, [a]);
    const { logger, lines } = createCapturingLogger();
    const d = await run(logger);
    const starts = (name: string): number =>
      lines.filter((l) => l.msg === 'subscription started' && l.subscription === name).length;
    const updates = (name: string): number =>
      lines.filter((l) => l.msg === 'subscription updated in place' && l.subscription === name)
        .length;

    // Added while running, before the operator made its consumer: retried until it exists.
    await writeSubscriptions(h.kv, [a, b]);
    await waitFor(async () => ((await loopsOf(d, ns, 'sub-b')) === 1 ? true : undefined), 'sub-b');
    await ensureConsumer(h.jsm, b);
    await publishEvent(h.js, ns, { id: 'e1', data: {} });
    await sinkA.waitForRequests(1);
    const [b1] = await sinkB.waitForRequests(1);
    assert.equal(b1?.headers['ce-id'], 'e1');

    // Changed: sub-a now points at sink C, with other retries. Swapped into the running loop:
    // no restart, so nothing pulled is nak'd and no delivery count moves.
    const a2 = buildSubscription(ns, 'sub-a', sinkC.url, {
      generation: 2,
      delivery: { retry: { maxAttempts: 7 } },
    });
    await writeSubscriptions(h.kv, [a2, b]);
    await waitFor(() => (updates('sub-a') === 1 ? true : undefined), 'sub-a to update');
    assert.equal(starts('sub-a'), 1, 'not restarted');
    await publishEvent(h.js, ns, { id: 'e2', data: {} });
    const [c1] = await sinkC.waitForRequests(1);
    assert.equal(c1?.headers['ce-id'], 'e2');
    await sinkB.waitForRequests(2);
    const infoA = await h.jsm.consumers.info(a.consumers[0]!.stream, 'sub-a');
    assert.equal(infoA.num_redelivered, 0, 'nothing was redelivered by the change');

    // What a running loop cannot take over (here maxInFlight) restarts it.
    const a3 = buildSubscription(ns, 'sub-a', sinkC.url, {
      generation: 3,
      delivery: { maxInFlight: 2 },
    });
    await writeSubscriptions(h.kv, [a3, b]);
    await waitFor(() => (starts('sub-a') === 2 ? true : undefined), 'sub-a to restart');

    // Removed: sub-b's loop stops; its consumer keeps the next event for later.
    await writeSubscriptions(h.kv, [a3]);
    await waitFor(async () => ((await loopsOf(d, ns, 'sub-b')) === 0 ? true : undefined), 'stop');
    const seq3 = await publishEvent(h.js, ns, { id: 'e3', data: {} });
    await sinkC.waitForRequests(2);
    await waitForSettled(h.jsm, a3, seq3);
    assert.equal(sinkB.requests.length, 2);
    const infoB = await h.jsm.consumers.info(b.consumers[0]!.stream, 'sub-b');
    assert.ok(infoB.ack_floor.stream_seq < seq3, 'sub-b did not settle e3');
    assert.equal(sinkA.requests.length, 1, 'the old sink of sub-a got nothing after the change');
    // A removed subscription leaves no label set behind in the gauge.
    const gauge = await d.registry.getSingleMetric('herald_dispatcher_consumer_loops')?.get();
    assert.ok(!gauge?.values.some((v) => v.labels.subscription === 'sub-b'), 'sub-b label removed');
  });

  it('logs only the origin of a sink, never its path or query', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 503 }));
    const secretUrl = `${sink.url}/t0k3n-in-path?token=q5ecret`;
    const sub = buildSubscription(ns, 'private-url', secretUrl, {
      delivery: { retry: { maxAttempts: 2 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const { logger, lines } = createCapturingLogger();
    await run(logger);
    await publishEvent(h.js, ns, { id: 'e1', data: {} });
    await sink.waitForRequests(2);
    // And a change in place logs the new target the same way.
    await writeSubscriptions(h.kv, [
      { ...sub, generation: 2, sink: { ...sub.sink, uri: `${secretUrl}2` } },
    ]);
    await waitFor(
      () => (lines.some((l) => l.msg === 'subscription updated in place') ? true : undefined),
      'the update',
    );
    const started = lines.find((l) => l.msg === 'subscription started');
    assert.equal((started?.target as { origin?: string }).origin, new URL(sink.url).origin);
    const text = JSON.stringify(lines);
    for (const leak of ['/hook', 't0k3n', 'q5ecret', 'token='])
      assert.ok(!text.includes(leak), leak);
  });

  it('closes the connection pool of a sink no subscription delivers to any more', async () => {
    const ns = uniqueNamespace();
    // Two origins on one machine: 127.0.0.1 and localhost.
    const [sinkA, sinkB] = [await sinkWith(), await sinkWith()];
    const urlB = sinkB.url.replace('127.0.0.1', 'localhost');
    const cache = new ConfigCache();
    const sinks = new SinkClients({ policy: { allowPrivateSinks: true } });
    const metrics = createDispatcherMetrics();
    const supervisor = new SubscriptionSupervisor({
      js: h.js,
      cache,
      configKey: h.configKey,
      sinks,
      metrics,
      logger: createSilentLogger(),
      userAgent: 'Herald/test',
    });
    const key = configKeyFor(ConfigKeyPrefix.Subscription, ns, 'pooled');
    const sub = buildSubscription(ns, 'pooled', sinkA.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    try {
      cache.applyEntry(key, sub);
      await supervisor.reconcile(ns, 'pooled');
      await publishEvent(h.js, ns, { id: 'e1', data: {} });
      await sinkA.waitForRequests(1);
      assert.deepEqual(sinks.origins, [new URL(sinkA.url).origin]);

      cache.applyEntry(key, { ...sub, generation: 2, sink: { ...sub.sink, uri: urlB } });
      await supervisor.reconcile(ns, 'pooled');
      assert.deepEqual(sinks.origins, [], 'the pool of sink A is closed');
      await publishEvent(h.js, ns, { id: 'e2', data: {} });
      await sinkB.waitForRequests(1);
      assert.deepEqual(sinks.origins, [new URL(urlB).origin]);

      cache.applyEntry(key, undefined);
      await supervisor.reconcile(ns, 'pooled');
      assert.deepEqual(sinks.origins, []);
    } finally {
      await supervisor.stop();
      await sinks.close();
    }
  });

  it('stops a paused subscription', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith();
    const sub = buildSubscription(ns, 'pausable', sink.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run();
    await waitFor(
      async () => ((await loopsOf(d, ns, 'pausable')) === 1 ? true : undefined),
      'start',
    );
    await writeSubscriptions(h.kv, [{ ...sub, paused: true }]);
    await waitFor(
      async () => ((await loopsOf(d, ns, 'pausable')) === 0 ? true : undefined),
      'pause',
    );
  });

  it('keeps delivering to one subscription while another’s sink hangs', async () => {
    const ns = uniqueNamespace();
    const stuck = await sinkWith(() => 'hang');
    const healthy = await sinkWith();
    const x = buildSubscription(ns, 'stuck', stuck.url, {
      delivery: { maxInFlight: 2, timeoutMs: 20_000 },
    });
    const y = buildSubscription(ns, 'healthy', healthy.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, x);
    await ensureConsumer(h.jsm, y);
    await writeSubscriptions(h.kv, [x, y]);
    await run();

    for (let i = 0; i < 6; i++) await publishEvent(h.js, ns, { id: `e${i}`, data: { i } });
    await stuck.waitForRequests(2);
    const received = await healthy.waitForRequests(6);
    assert.equal(new Set(received.map((r) => r.headers['ce-id'])).size, 6);
    assert.equal(stuck.requests.length, 2, 'the stuck sink holds its maxInFlight requests');
  });
});

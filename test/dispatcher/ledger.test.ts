/**
 * The delivery ledger over a real nats-server: a redelivery of a delivered event is acked
 * without a POST; a 2xx is recorded before the ack; a ledger that is slow, failing or deleted
 * never costs an event (and never a second POST of a recorded one).
 */
import { strict as assert } from 'node:assert';
import { Kvm } from '@nats-io/kv';
import { createSilentLogger } from '../../core/logging.js';
import {
  DLQ_STREAM,
  LEDGER_DEFAULT_WINDOW_MS,
  ledgerKeyFor,
  LEDGER_BUCKET,
  LEDGER_STREAM,
  messageIdFor,
} from '../../core/topology.js';
import { startConsumeLoop, type ConsumeLoop } from '../../dispatcher/consume-loop.js';
import { SinkClients } from '../../dispatcher/deliver.js';
import {
  createLedgerMetrics,
  DeliveryLedger,
  type LedgerRetryPolicy,
} from '../../dispatcher/ledger.js';
import {
  LedgerError,
  LedgerErrorCode,
  openLedgerStore,
  type LedgerStore,
} from '../../dispatcher/ledger-client.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { createDispatcherMetrics, type DispatcherMetrics } from '../../dispatcher/metrics.js';
import { prepareSubscription } from '../../dispatcher/prepare.js';
import {
  buildSubscription,
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

const SOURCE = 'https://acme.example/orders';
const FAST_RETRY: Partial<LedgerRetryPolicy> = {
  initialDelayMs: 10,
  maxDelayMs: 40,
  writeBudgetMs: 300,
};

/** A store that delegates to a real one, with hooks to slow down or fail either operation. */
class ScriptedStore implements LedgerStore {
  hasHook: (() => Promise<void>) | undefined;
  putHook: (() => Promise<void>) | undefined;
  readonly puts: string[] = [];
  constructor(private readonly inner: LedgerStore) {}
  async has(key: string): Promise<boolean> {
    await this.hasHook?.();
    return this.inner.has(key);
  }
  async put(key: string, value: string): Promise<void> {
    await this.putHook?.();
    this.puts.push(key);
    return this.inner.put(key, value);
  }
  repair(err: unknown): Promise<void> {
    return this.inner.repair(err);
  }
  close(): void {}
}

const failing = (): Promise<void> =>
  Promise.reject(new LedgerError(LedgerErrorCode.Timeout, 'scripted failure'));

async function counterValue(
  metrics: DispatcherMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as { value: number; labels: Record<string, unknown> }[];
  return values
    .filter((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))
    .reduce((sum, v) => sum + v.value, 0);
}

describe('delivery ledger', function () {
  this.timeout(30_000);
  let h: Harness;
  let realStore: LedgerStore;
  const sinks: TestSink[] = [];
  const loops: ConsumeLoop[] = [];
  const clients: SinkClients[] = [];
  let dispatcher: RunningDispatcher | undefined;

  before(async () => {
    h = await startHarness();
    realStore = (await openLedgerStore({ nc: h.nc, js: h.js })).store;
  });
  after(async () => {
    realStore.close();
    await h.stop();
  });
  afterEach(async () => {
    await Promise.all(loops.splice(0).map((l) => l.stop()));
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function sinkWith(...args: Parameters<typeof startTestSink>): Promise<TestSink> {
    const sink = await startTestSink(...args);
    sinks.push(sink);
    return sink;
  }

  const keyOf = (ns: string, sub: string, id: string): string =>
    ledgerKeyFor(ns, sub, messageIdFor(ns, SOURCE, id));

  /** One consume loop on a fresh subscription, with the given ledger store. */
  async function startLoop(
    store: LedgerStore,
    overrides: Parameters<typeof buildSubscription>[3] = {},
    ackWaitMs?: number,
    respond?: Parameters<typeof startTestSink>[0],
  ) {
    const ns = uniqueNamespace();
    const sink = await sinkWith(respond);
    const sub = buildSubscription(ns, 'orders', sink.url, overrides);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub, ackWaitMs);
    const metrics = createDispatcherMetrics();
    const { logger, lines } = createCapturingLogger();
    const sinkClients = new SinkClients({ policy: { allowPrivateSinks: true } });
    clients.push(sinkClients);
    const start = (): ConsumeLoop => {
      const loop = startConsumeLoop({
        js: h.js,
        subscription: prepareSubscription(sub, h.configKey, 'Herald/test'),
        consumer: sub.consumers[0]!,
        sinks: sinkClients,
        metrics,
        ledger: new DeliveryLedger(store, createLedgerMetrics(metrics.registry), FAST_RETRY),
        logger,
      });
      loops.push(loop);
      return loop;
    };
    return { ns, sink, sub, metrics, lines, start };
  }

  it('acks redeliveries of delivered events without a POST (a consumer that lost its acks)', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith();
    const sub = buildSubscription(ns, 'orders', sink.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const run = (): Promise<RunningDispatcher> =>
      startDispatcher({
        natsUrl: h.nats.url,
        configKey: h.configKey,
        logger: createSilentLogger(),
        allowPrivateSinks: true,
      });

    dispatcher = await run();
    let seq = 0;
    for (const id of ['a', 'b', 'c'])
      seq = await publishEvent(h.js, ns, { id, source: SOURCE, data: {} });
    await sink.waitForRequests(3);
    await waitForSettled(h.jsm, sub, seq);
    await dispatcher.stop();

    // What a nats-server crash does to a consumer, in the extreme: every ack forgotten.
    await h.jsm.consumers.delete(sub.consumers[0]!.stream, 'orders');
    await ensureConsumer(h.jsm, sub);
    dispatcher = await run();
    seq = await publishEvent(h.js, ns, { id: 'd', source: SOURCE, data: {} });
    await sink.waitForRequests(4);
    await waitForSettled(h.jsm, sub, seq);

    assert.deepEqual(
      sink.requests.map((r) => r.headers['ce-id']),
      ['a', 'b', 'c', 'd'],
      'a, b and c were not POSTed again',
    );
    const metric = (await dispatcher.registry.getMetricsAsJSON()).find(
      (m) => m.name === 'herald_dispatcher_ledger_hits_total',
    );
    assert.deepEqual(
      (metric?.values as { value: number }[]).map((v) => v.value),
      [3],
    );
  });

  it('records a 2xx in the ledger before it acks', async () => {
    const store = new ScriptedStore(realStore);
    let releasePut!: () => void;
    let putStarted!: () => void;
    const started = new Promise<void>((resolve) => (putStarted = resolve));
    store.putHook = () => {
      putStarted();
      return new Promise<void>((resolve) => (releasePut = resolve));
    };
    const { ns, sink, sub, start } = await startLoop(store);
    start();
    const seq = await publishEvent(h.js, ns, { id: 'e1', source: SOURCE, data: {} });
    await sink.waitForRequests(1);
    await started;
    const c = sub.consumers[0]!;
    const held = await h.jsm.consumers.info(c.stream, c.durable);
    assert.equal(held.num_ack_pending, 1, 'not acked while the ledger write is pending');
    assert.equal(await realStore.has(keyOf(ns, 'orders', 'e1')), false);

    releasePut();
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(await realStore.has(keyOf(ns, 'orders', 'e1')), true);
    assert.equal(sink.requests.length, 1);
  });

  it('retries a failing ledger write, records it once, and does not POST again', async () => {
    const store = new ScriptedStore(realStore);
    let failures = 2;
    store.putHook = () => (failures-- > 0 ? failing() : Promise.resolve());
    const { ns, sink, sub, metrics, start } = await startLoop(store);
    start();
    const seq = await publishEvent(h.js, ns, { id: 'e1', source: SOURCE, data: {} });
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1);
    assert.equal(await realStore.has(keyOf(ns, 'orders', 'e1')), true);
    assert.equal(await counterValue(metrics, 'herald_dispatcher_ledger_failures_total'), 0);
  });

  it('acks anyway, logs and counts when the ledger write keeps failing after the POST', async () => {
    const store = new ScriptedStore(realStore);
    store.putHook = failing;
    const { ns, sink, sub, metrics, lines, start } = await startLoop(store);
    start();
    const seq = await publishEvent(h.js, ns, { id: 'e1', source: SOURCE, data: {} });
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1, 'acked, not nak’d for another POST');
    assert.equal(
      await counterValue(metrics, 'herald_dispatcher_ledger_failures_total', {
        operation: 'write',
      }),
      1,
    );
    const line = lines.find((l) => String(l.msg).startsWith('cannot record the delivery'));
    assert.equal(line?.level, 50, 'logged at error');
    assert.equal(line?.eventId, 'e1');
  });

  it('delivers without the check when the ledger cannot be read', async () => {
    const store = new ScriptedStore(realStore);
    store.hasHook = failing;
    const { ns, sink, sub, metrics, lines, start } = await startLoop(store);
    start();
    const seq = await publishEvent(h.js, ns, { id: 'e1', source: SOURCE, data: {} });
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1);
    assert.equal(
      await counterValue(metrics, 'herald_dispatcher_ledger_failures_total', { operation: 'read' }),
      1,
    );
    assert.ok(
      lines.some((l) => l.msg === 'cannot read the delivery ledger; delivering without the check'),
    );
    assert.equal(await realStore.has(keyOf(ns, 'orders', 'e1')), true, 'still recorded');
  });

  it('acks a recorded event on the spare delivery instead of dead-lettering it', async () => {
    const { ns, sink, sub, metrics, start } = await startLoop(realStore, {
      delivery: { retry: { maxAttempts: 2 } },
    });
    // The last attempt POSTed and was recorded, then the dispatcher died before the ack.
    await realStore.put(keyOf(ns, 'orders', 'e1'), '204');
    const seq = await publishEvent(h.js, ns, { id: 'e1', source: SOURCE, data: {} });
    const c = sub.consumers[0]!;
    const raw = await h.js.consumers.get(c.stream, c.durable);
    for (let i = 0; i < 2; i++) {
      const m = await raw.next({ expires: 5_000 });
      assert.ok(m);
      m.nak();
    }
    start();
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 0);
    assert.equal(await counterValue(metrics, 'herald_dispatcher_ledger_hits_total'), 1);
    const dlq = await h.jsm.streams.info(DLQ_STREAM, { subjects_filter: `herald.dlq.${ns}.>` });
    assert.equal(Object.keys(dlq.state.subjects ?? {}).length, 0, 'no dead letter');
  });

  it('leaves a redelivery of a message still in flight to the running copy (one POST)', async () => {
    const store = new ScriptedStore(realStore);
    let stalled = false;
    let stallEnded!: () => void;
    const ended = new Promise<void>((resolve) => (stallEnded = resolve));
    // The first check stalls past ack_wait, with nothing sending in-progress acks meanwhile;
    // the sink answers slowly, so neither copy could have recorded before the other checked.
    store.hasHook = async () => {
      if (stalled) return;
      stalled = true;
      await new Promise((r) => setTimeout(r, 1_600));
      stallEnded();
    };
    const { ns, sink, sub, lines, start } = await startLoop(store, {}, 1_000, () => ({
      status: 204,
      delayMs: 800,
    }));
    start();
    const seq = await publishEvent(h.js, ns, { id: 'e1', source: SOURCE, data: {} });
    await ended;
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1);
    assert.ok(lines.some((l) => String(l.msg).startsWith('redelivered while still being handled')));
  });

  it('recreates the ledger bucket when it is deleted under a running dispatcher', async () => {
    const { ns, sink, sub, start } = await startLoop(realStore);
    start();
    let seq = await publishEvent(h.js, ns, { id: 'e1', source: SOURCE, data: {} });
    await waitForSettled(h.jsm, sub, seq);
    await h.jsm.streams.delete(LEDGER_STREAM);
    seq = await publishEvent(h.js, ns, { id: 'e2', source: SOURCE, data: {} });
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 2);
    assert.equal(await realStore.has(keyOf(ns, 'orders', 'e2')), true);
    const info = await h.jsm.streams.info(LEDGER_STREAM);
    assert.equal(info.config.max_age, LEDGER_DEFAULT_WINDOW_MS * 1e6);
  });

  it('reads entries through the stream API when the bucket has no direct get, and ignores delete markers', async () => {
    await h.jsm.streams.delete(LEDGER_STREAM).catch(() => undefined);
    const kv = await new Kvm(h.js).create(LEDGER_BUCKET, {
      history: 1,
      ttl: 60_000,
      allow_direct: false,
    });
    const { store, windowMs } = await openLedgerStore({ nc: h.nc, js: h.js, windowMs: 1_000 });
    try {
      assert.equal(windowMs, 60_000, 'an existing bucket keeps its TTL');
      assert.equal(await store.has('ns.sub.k1'), false);
      await store.put('ns.sub.k1', '204');
      assert.equal(await store.has('ns.sub.k1'), true);
      await kv.delete('ns.sub.k1');
      assert.equal(await store.has('ns.sub.k1'), false);
    } finally {
      store.close();
      // Back to the bucket the other tests use (direct get, default window).
      await h.jsm.streams.delete(LEDGER_STREAM);
      (await openLedgerStore({ nc: h.nc, js: h.js })).store.close();
    }
  });

  it('ignores delete markers on a direct-get bucket too, and rejects requests once closed', async () => {
    const kv = await new Kvm(h.js).open(LEDGER_BUCKET);
    await realStore.put('ns.sub.k2', '204');
    assert.equal(await realStore.has('ns.sub.k2'), true);
    await kv.purge('ns.sub.k2');
    assert.equal(await realStore.has('ns.sub.k2'), false);
    const { store } = await openLedgerStore({ nc: h.nc, js: h.js });
    store.close();
    await assert.rejects(
      store.has('ns.sub.k2'),
      (err: unknown) => err instanceof LedgerError && err.code === LedgerErrorCode.Closed,
    );
  });
});

/**
 * `delivery.rateLimit` end to end: a sink behind a rate-limited subscription is not flooded,
 * even when the subscription reads several EventTypes (one bucket for all its loops).
 */
import { strict as assert } from 'node:assert';
import { createSilentLogger } from '../../core/logging.js';
import { streamNameFor } from '../../core/topology.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { buildConsumerConfig } from '../../operator/jetstream-config.js';
import {
  buildSubscription,
  ensureEventStream,
  publishEvent,
  startHarness,
  startTestSink,
  uniqueNamespace,
  writeSubscriptions,
  type Harness,
  type TestSink,
} from './support.js';
import { countReaches } from '../support/replica-membership.js';

describe('dispatcher rate limit', function () {
  this.timeout(60_000);
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  let sink: TestSink | undefined;

  before(async () => {
    h = await startHarness();
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await sink?.stop();
    sink = undefined;
  });

  it('holds deliveries of a subscription over two EventTypes to its eventsPerSecond', async () => {
    const ns = uniqueNamespace();
    sink = await startTestSink();
    const types = ['order-created', 'order-paid'];
    const sub = buildSubscription(ns, 'limited', sink.url, {
      eventTypes: types,
      consumers: types.map((t) => ({
        eventType: t,
        stream: streamNameFor(ns, t),
        durable: 'limited',
      })),
      delivery: { maxInFlight: 16, rateLimit: { eventsPerSecond: 10 } },
    });
    for (const c of sub.consumers) {
      await ensureEventStream(h.jsm, ns, c.eventType);
      await h.jsm.consumers.add(c.stream, buildConsumerConfig(sub, c));
    }
    // Published before the dispatcher starts, so it finds a backlog and would send it at once.
    for (let i = 0; i < 15; i++) {
      await publishEvent(h.js, ns, { id: `c-${i}` }, 'order-created');
      await publishEvent(h.js, ns, { id: `p-${i}` }, 'order-paid');
    }
    await writeSubscriptions(h.kv, [sub]);
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true,
    });

    const requests = await sink.waitForRequests(30, 30_000);
    const ids = new Set(requests.map((r) => String(r.headers['ce-id'])));
    assert.equal(ids.size, 30, 'every event delivered once');
    // 10/s with a burst of 10: the last 20 need at least 2 s. Only a lower bound is asserted
    // (a slow machine makes it longer, never shorter); one bucket per loop would take 0.5 s.
    const times = requests.map((r) => r.receivedAt);
    const spanMs = Math.max(...times) - Math.min(...times);
    assert.ok(spanMs >= 1_500, `30 events at 10/s arrived within ${spanMs} ms`);
  });

  it('divides the rates among the live dispatchers, and restores them when one stops', async () => {
    const start = () =>
      startDispatcher({
        natsUrl: h.nats.url,
        configKey: h.configKey,
        logger: createSilentLogger(),
        allowPrivateSinks: true,
      });
    dispatcher = await start();
    const other = await start();
    try {
      await Promise.all([
        countReaches(dispatcher.membership, 2),
        countReaches(other.membership, 2),
      ]);
      const gauge = /^herald_dispatcher_rate_limit_replicas (\d+)$/m;
      assert.equal(gauge.exec(await dispatcher.registry.metrics())?.[1], '2');
    } finally {
      await other.stop();
    }
    await countReaches(dispatcher.membership, 1);
    const gauge = /^herald_dispatcher_rate_limit_replicas (\d+)$/m;
    assert.equal(gauge.exec(await dispatcher.registry.metrics())?.[1], '1');
  });
});

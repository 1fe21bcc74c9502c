/**
 * Endpoint health as recorded in KV `herald-delivery-state`, through the real dispatcher and a
 * real sink: consecutive failures, last status, last success and last failure, reset by a
 * success; the failure kind when there was no response; the Prometheus gauges.
 */
import { strict as assert } from 'node:assert';
import type { KV } from '@nats-io/kv';
import {
  openDeliveryStateBucket,
  readDeliveryState,
  type DeliveryState,
} from '../../core/delivery-state.js';
import { createSilentLogger } from '../../core/logging.js';
import { deliveryStateKeyFor } from '../../core/topology.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { findFreePort } from '../support/processes.js';
import {
  buildSubscription,
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

describe('endpoint health records', function () {
  this.timeout(60_000);
  let h: Harness;
  let states: KV;
  let dispatcher: RunningDispatcher | undefined;
  const sinks: TestSink[] = [];

  before(async () => {
    h = await startHarness();
    states = await openDeliveryStateBucket(h.js);
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function run(): Promise<RunningDispatcher> {
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
      attemptsLog: false,
    });
    return dispatcher;
  }

  /** Resolves with the record once `check` holds for it. */
  function waitForState(
    ns: string,
    name: string,
    check: (s: DeliveryState) => boolean,
    what: string,
  ): Promise<DeliveryState> {
    return waitFor(
      async () => {
        const s = (await readDeliveryState(states, ns, name))?.state;
        return s && check(s) ? s : undefined;
      },
      `${ns}/${name} delivery state: ${what}`,
      30_000,
    );
  }

  async function gauge(name: string, ns: string, sub: string): Promise<number | undefined> {
    const metric = await dispatcher!.registry.getSingleMetric(name)?.get();
    return metric?.values.find((v) => v.labels.namespace === ns && v.labels.subscription === sub)
      ?.value;
  }

  it('records consecutive failures and the last status; a success resets them and records the last success', async () => {
    const ns = uniqueNamespace();
    let status = 503;
    const sink = await startTestSink(() => ({ status }));
    sinks.push(sink);
    const sub = buildSubscription(ns, 'flaky', sink.url, {
      delivery: { retry: { maxAttempts: 50, initialDelayMs: 20, maxDelayMs: 100 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    const seq = await publishEvent(h.js, ns, { id: 'evt-1' });
    const failing = await waitForState(
      ns,
      'flaky',
      (s) => s.consecutiveFailures >= 3,
      'three failures recorded',
    );
    assert.equal(failing.namespace, ns);
    assert.equal(failing.name, 'flaky');
    assert.equal(failing.generation, 1);
    assert.equal(failing.lastStatus, 503);
    assert.equal(failing.lastError, 'sink answered HTTP 503');
    assert.ok(failing.lastFailureTime && failing.failingSince, 'failure times recorded');
    assert.ok(Date.parse(failing.failingSince) <= Date.parse(failing.lastFailureTime));
    assert.equal(failing.lastSuccessTime, undefined);
    assert.equal(failing.pausedReason, undefined, 'a day of failures is far away');
    await waitFor(
      async () =>
        ((await gauge('herald_dispatcher_consecutive_failures', ns, 'flaky')) ?? 0) >= 3 ||
        undefined,
      'the consecutive failures gauge',
    );

    status = 200;
    await waitForSettled(h.jsm, sub, seq);
    const healthy = await waitForState(
      ns,
      'flaky',
      (s) => s.consecutiveFailures === 0,
      'reset by the success',
    );
    assert.equal(healthy.lastStatus, 200);
    assert.equal(healthy.lastError, undefined);
    assert.equal(healthy.failingSince, undefined);
    assert.ok(healthy.lastSuccessTime, 'last success recorded');
    assert.ok(Date.parse(healthy.lastSuccessTime) >= Date.parse(healthy.lastFailureTime ?? ''));
    assert.equal(
      healthy.lastFailureTime !== undefined,
      true,
      'the last failure stays on record after a success',
    );
    await waitFor(
      async () =>
        (await gauge('herald_dispatcher_consecutive_failures', ns, 'flaky')) === 0 || undefined,
      'the gauge back at 0',
    );
    assert.equal(await gauge('herald_dispatcher_subscription_paused', ns, 'flaky'), 0);
  });

  it('records the failure kind, and no status, when the sink cannot be reached', async () => {
    const ns = uniqueNamespace();
    // A port nothing listens on: connection refused.
    const sub = buildSubscription(ns, 'down', `http://127.0.0.1:${await findFreePort()}/hook`, {
      delivery: { retry: { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 50 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    await run();

    await publishEvent(h.js, ns, { id: 'evt-down' });
    const state = await waitForState(
      ns,
      'down',
      (s) => s.consecutiveFailures >= 3,
      'every attempt failed',
    );
    assert.equal(state.lastStatus, undefined, 'no response, no status');
    assert.match(state.lastError ?? '', /^network: /);
    assert.ok(!(state.lastError ?? '').includes('/hook'), 'the webhook path is never recorded');
  });

  it('coalesces the writes of a busy failing subscription, yet counts every attempt', async () => {
    const ns = uniqueNamespace();
    const sink = await startTestSink(() => ({ status: 500 }));
    sinks.push(sink);
    const sub = buildSubscription(ns, 'busy', sink.url, {
      delivery: { maxInFlight: 8, retry: { maxAttempts: 2, initialDelayMs: 1, maxDelayMs: 5 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    // Every write of the record is a message on its KV subject.
    let writes = 0;
    const watcher = h.nc.subscribe(`$KV.herald-delivery-state.${deliveryStateKeyFor(ns, 'busy')}`, {
      callback: () => {
        writes++;
      },
    });
    await run();

    let seq = 0;
    for (let i = 0; i < 100; i++) seq = await publishEvent(h.js, ns, { id: `evt-${i}` });
    await waitForSettled(h.jsm, sub, seq);
    const state = await waitForState(
      ns,
      'busy',
      (s) => s.consecutiveFailures === 200,
      'all 200 attempts counted',
    );
    watcher.unsubscribe();
    assert.equal(sink.requests.length, 200);
    assert.equal(state.lastStatus, 500);
    assert.ok(writes >= 1 && writes < 100, `${writes} writes for 200 attempts`);
  });
});

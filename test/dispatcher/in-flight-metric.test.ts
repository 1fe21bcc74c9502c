import { strict as assert } from 'node:assert';
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
  type TestSink,
} from './support.js';

describe('dispatcher in-flight metric', function () {
  this.timeout(60_000);
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  let sink: TestSink | undefined;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await dispatcher?.stop();
    await sink?.stop();
    await h.stop();
  });

  it('shows the deliveries a slow sink holds, up to maxInFlight, and 0 once they finish', async () => {
    sink = await startTestSink(() => 'hang');
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'slow', sink.url, { delivery: { maxInFlight: 3 } });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true,
      attemptsLog: false,
    });
    const d = dispatcher;
    const inFlight = async (): Promise<number | undefined> => {
      const metric = await d.registry.getSingleMetric('herald_dispatcher_in_flight')?.get();
      return metric?.values.find((v) => v.labels.subscription === 'slow')?.value;
    };
    for (let i = 0; i < 5; i++) await publishEvent(h.js, ns, { id: `s-${i}` });
    await sink.waitForRequests(3);
    assert.equal(await inFlight(), 3, 'three held by the sink, two waiting in JetStream');
    sink.release();
    await sink.waitForRequests(5);
    sink.release();
    await waitFor(async () => ((await inFlight()) === 0 ? true : undefined), 'in flight back to 0');
  });
});

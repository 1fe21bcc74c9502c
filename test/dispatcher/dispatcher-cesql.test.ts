/**
 * A CESQL (`sql`) filter end to end: real nats-server, real dispatcher, real HTTP sink. Only
 * events for which the expression is TRUE with no evaluation error reach the sink.
 */
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
  waitForSettled,
  writeSubscriptions,
  type Harness,
  type TestSink,
} from './support.js';

describe('dispatcher with a CESQL filter', () => {
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

  it("delivers exactly the events for which subject LIKE 'eu-%' AND myext > 2", async () => {
    const ns = uniqueNamespace();
    sink = await startTestSink();
    // Ordered: one at a time in stream order, so when the last event settles all were decided.
    const sub = buildSubscription(ns, 'eu-big', sink.url, {
      delivery: { ordering: 'ordered' },
      filters: [{ sql: "subject LIKE 'eu-%' AND myext > 2" }],
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sink listens on 127.0.0.1
    });

    const events = [
      { id: 'match-integer', subject: 'eu-1', myext: 3 },
      { id: 'not-above-2', subject: 'eu-2', myext: 2 },
      { id: 'wrong-region', subject: 'us-1', myext: 5 },
      { id: 'match-string-ext', subject: 'eu-west', myext: '10' },
      // Evaluation errors never match: a missing attribute, a value that is not an integer.
      { id: 'no-ext', subject: 'eu-3' },
      { id: 'ext-not-integer', subject: 'eu-4', myext: 'many' },
      { id: 'no-subject', myext: 9 },
      { id: 'case-sensitive', subject: 'EU-5', myext: 9 },
      { id: 'match-max', subject: 'eu-', myext: 2147483647 },
    ];
    let last = 0;
    for (const e of events) last = await publishEvent(h.js, ns, { ...e, data: {} });
    await sink.waitForRequests(3);
    await waitForSettled(h.jsm, sub, last);
    assert.deepEqual(
      sink.requests.map((r) => r.headers['ce-id']),
      ['match-integer', 'match-string-ext', 'match-max'],
    );
    const skipped = await dispatcher.registry.getSingleMetricAsString(
      'herald_dispatcher_events_skipped_total',
    );
    assert.match(skipped, /reason="filtered"} 6/);
  });
});

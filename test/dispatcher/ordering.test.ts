/**
 * `delivery.ordering: ordered` end to end: with retries in the middle of the stream (503s, a
 * timeout, a 429 with Retry-After), the sink still gets every event in publish order, and
 * nothing after a failing event before that event succeeded.
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
  type SinkReply,
  type TestSink,
} from './support.js';

const TIMEOUT_MS = 1_000;

describe('dispatcher ordered delivery', function () {
  this.timeout(90_000);
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

  it('delivers 30 events in publish order although two in the middle are retried', async () => {
    // How the sink answers the n-th request for an event (0-based); 200 after the script.
    const scripts: Record<string, SinkReply[]> = {
      'e-10': [
        { status: 503 },
        { status: 503, delayMs: TIMEOUT_MS * 2 }, // answered too late: a timeout
        { status: 429, headers: { 'retry-after': '1' } },
      ],
      'e-20': [{ status: 503 }, { status: 503 }, { status: 500 }],
    };
    const seen = new Map<string, number>();
    /** ce-ids in the order the sink accepted them (answered 200). */
    const accepted: string[] = [];
    sink = await startTestSink((req) => {
      const id = String(req.headers['ce-id']);
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      const scripted = scripts[id]?.[n];
      if (scripted) return scripted;
      accepted.push(id);
      return { status: 200 };
    });

    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'ordered', sink.url, {
      delivery: {
        ordering: 'ordered',
        timeoutMs: TIMEOUT_MS,
        retry: { maxAttempts: 8, initialDelayMs: 50, maxDelayMs: 300 },
      },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    const ids = Array.from({ length: 30 }, (_, i) => `e-${i}`);
    let lastSeq = 0;
    for (const id of ids) lastSeq = await publishEvent(h.js, ns, { id });
    await writeSubscriptions(h.kv, [sub]);
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true,
    });

    await sink.waitForRequests(30 + 3 + 3, 60_000);
    await waitForSettled(h.jsm, sub, lastSeq);

    assert.deepEqual(accepted, ids, 'first successful receipt of each event in publish order');
    const order = sink.requests.map((r) => ids.indexOf(String(r.headers['ce-id'])));
    for (let i = 1; i < order.length; i++) {
      assert.ok(
        (order[i] as number) >= (order[i - 1] as number),
        `request ${i} (${ids[order[i] as number]}) came after a later event ${ids[order[i - 1] as number]}`,
      );
    }
    assert.equal(seen.get('e-10'), 4, 'e-10: 503, timeout, 429, then 200');
    assert.equal(seen.get('e-20'), 4, 'e-20: 503, 503, 500, then 200');
    // Retry-After: 1 was honoured: nothing reached the sink within a second of the 429.
    const afterRetry = sink.requests.filter((r) => r.headers['ce-id'] === 'e-10');
    assert.ok((afterRetry[3]?.receivedAt ?? 0) - (afterRetry[2]?.receivedAt ?? 0) >= 950);
  });
});

/**
 * nats-server's own SIGKILL: it persists consumer state lazily, so after a hard restart a
 * consumer may hand out again messages that were delivered and acked before the kill
 * (measured on 2.9.10: ~1,000, DESIGN.md §3). The delivery ledger must absorb every one of
 * them: the sink sees each event once. How many it absorbed is reported, not asserted — it
 * depends on when the server last wrote its consumer state.
 */
import { strict as assert } from 'node:assert';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import {
  buildSubscription,
  createCapturingLogger,
  ensureConsumer,
  ensureEventStream,
  publishEvent,
  startHarness,
  startTestSink,
  waitFor,
  writeSubscriptions,
  type Harness,
  type TestSink,
} from './support.js';

/** Rounds of (deliver EVENTS_PER_ROUND, wait until all are acked, kill -9, restart). */
const ROUNDS = 3;
const EVENTS_PER_ROUND = 1_000;
const EVENTS = ROUNDS * EVENTS_PER_ROUND;
const NS = 'natskill';

describe('nats-server SIGKILLed after events were delivered and acked', function () {
  this.timeout(60_000);
  let h: Harness;
  let sink: TestSink;
  let dispatcher: RunningDispatcher | undefined;

  before(async () => {
    h = await startHarness();
    sink = await startTestSink();
  });
  after(async () => {
    await dispatcher?.stop();
    await sink.stop();
    await h.stop();
  });

  it('lets no redelivery of an acked event reach the sink again', async () => {
    const sub = buildSubscription(NS, 'orders', sink.url, {
      delivery: { maxInFlight: 32, timeoutMs: 2_000 },
    });
    const c = sub.consumers[0]!;
    await ensureEventStream(h.jsm, NS);
    await ensureConsumer(h.jsm, sub, 4_000);
    await writeSubscriptions(h.kv, [sub]);
    const { logger, lines } = createCapturingLogger();
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger,
      allowPrivateSinks: true,
    });

    let lastSeq = 0;
    const settled = async (): Promise<true | undefined> => {
      // While the server restarts, the harness connection is reconnecting: not settled yet.
      const info = await h.jsm.consumers.info(c.stream, c.durable).catch(() => undefined);
      if (!info) return undefined;
      return info.ack_floor.stream_seq >= lastSeq &&
        info.num_ack_pending === 0 &&
        info.num_pending === 0
        ? true
        : undefined;
    };
    const hitsSoFar = (): number =>
      lines.filter((l) => String(l.msg).includes('(ledger hit)')).length;
    const perRound: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const first = round * EVENTS_PER_ROUND;
      for (let i = first; i < first + EVENTS_PER_ROUND; i += 200) {
        const seqs = await Promise.all(
          Array.from({ length: 200 }, (_, j) =>
            publishEvent(h.js, NS, { id: `e${i + j}`, data: {} }),
          ),
        );
        lastSeq = Math.max(lastSeq, ...seqs);
      }
      await sink.waitForRequests(first + EVENTS_PER_ROUND, 30_000);
      await waitFor(settled, 'every event acked', 15_000);
      const before = hitsSoFar();
      // At once, before the server gets to write its consumer state again.
      await h.nats.restart({ kill: true });
      await waitFor(settled, 'the consumer to settle after the restart', 30_000);
      perRound.push(hitsSoFar() - before);
    }

    const perId = new Map<string, number>();
    for (const r of sink.requests) {
      const id = String(r.headers['ce-id']);
      perId.set(id, (perId.get(id) ?? 0) + 1);
    }
    const twice = [...perId].filter(([, n]) => n > 1).map(([id]) => id);
    assert.equal(perId.size, EVENTS, 'every event arrived');
    assert.deepEqual(twice, [], 'no event arrived twice');
    assert.equal(sink.requests.length, EVENTS);

    const hits = lines.filter((l) => String(l.msg).includes('(ledger hit)'));
    const firstDeliveries = hits.filter((l) => l.attempt === 1).length;
    const metric = (await dispatcher.registry.getMetricsAsJSON()).find(
      (m) => m.name === 'herald_dispatcher_ledger_hits_total',
    );
    const counted = (metric?.values ?? []).reduce((sum, v) => sum + v.value, 0);
    assert.equal(counted, hits.length, 'the metric and the log agree');
    console.log(
      `      nats-server SIGKILL: ${ROUNDS} × (${EVENTS_PER_ROUND} events delivered and acked, ` +
        `then kill -9); redeliveries absorbed by the ledger: ${counted} ` +
        `(per kill: ${perRound.join(', ')}; ${firstDeliveries} with delivery count 1); ` +
        `sink saw ${sink.requests.length} POSTs for ${EVENTS} events`,
    );
  });
});

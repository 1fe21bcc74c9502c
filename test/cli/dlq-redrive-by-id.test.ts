/**
 * `herald dlq redrive --id` end to end: only the selected event is delivered again to the
 * subscription's sink by a real dispatcher.
 */
import { strict as assert } from 'node:assert';
import { REDRIVE_CONSUMER, REDRIVE_STREAM } from '../../core/topology.js';
import { runDlqCommand } from '../../cli/dlq-command.js';
import type { FlagValues } from '../../cli/flags.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { createSilentLogger } from '../../core/logging.js';
import {
  ensureDeadLetterTopology,
  waitForDeadLetters,
  waitForDurableIdle,
} from '../dispatcher/dead-letter-support.js';
import {
  buildSubscription,
  ensureConsumer,
  ensureEventStream,
  publishEvent,
  startHarness,
  startTestSink,
  uniqueNamespace,
  writeSubscriptions,
  type Harness,
  type TestSink,
} from '../dispatcher/support.js';

const ACME = 'https://acme.example/orders';
const BILLING = 'https://billing.example/invoices';

describe('herald dlq redrive --id', function () {
  this.timeout(60_000);
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  let sink: TestSink | undefined;

  before(async () => {
    h = await startHarness();
    await ensureDeadLetterTopology(h.jsm);
  });
  after(async () => {
    await dispatcher?.stop();
    await sink?.stop();
    await h.stop();
  });

  async function redrive(
    values: FlagValues,
  ): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDlqCommand({
      values: { nats: h.nats.url, limit: '100', ...values },
      positionals: ['redrive'],
      usage: 'usage',
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    });
    return { code, out, err };
  }

  it('redelivers only the selected event; an unknown id is reported; an id of two sources needs --source', async () => {
    const ns = uniqueNamespace();
    let fixed = false;
    sink = await startTestSink(() => (fixed ? { status: 204 } : { status: 400 }));
    const sub = buildSubscription(ns, 'orders', sink.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sink listens on 127.0.0.1
    });
    for (const id of ['evt-1', 'evt-2', 'evt-3']) {
      await publishEvent(h.js, ns, { id, source: ACME, data: { orderId: id } });
    }
    await publishEvent(h.js, ns, { id: 'evt-2', source: BILLING, data: { invoice: 'evt-2' } });
    await waitForDeadLetters(h.jsm, ns, 'orders', 4);
    await sink.waitForRequests(4);
    fixed = true;

    const lastQueued = (await h.jsm.streams.info(REDRIVE_STREAM)).state.last_seq;
    const refused = await redrive({ subscription: `${ns}/orders`, id: ['evt-2'] });
    assert.equal(refused.code, 2);
    assert.deepEqual(refused.out, []);
    assert.match(refused.err.join('\n'), /"evt-2" is in dead letters of 2 events/);
    assert.equal((await h.jsm.streams.info(REDRIVE_STREAM)).state.last_seq, lastQueued);

    const r = await redrive({ subscription: `${ns}/orders`, id: ['evt-2', 'nope'], source: ACME });
    assert.equal(r.code, 3, r.err.join('\n'));
    assert.deepEqual(r.out, [`queued 1 dead letter of ${ns}/orders for redelivery`]);
    assert.deepEqual(r.err, [
      `no dead letter of event id "nope" for ${ns}/orders from source ${ACME}`,
    ]);
    const [redriven] = (await sink.waitForRequests(5)).slice(4);
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);
    assert.equal(redriven?.headers['ce-id'], 'evt-2');
    assert.equal(redriven?.headers['ce-source'], ACME);
    assert.equal(sink.requests.length, 5, 'nothing else was redelivered');
  });
});

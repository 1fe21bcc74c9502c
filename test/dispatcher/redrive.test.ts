/**
 * Redrive end to end: `herald dlq redrive` (runDlqCommand, in process) queues a subscription's
 * dead letters on HERALD_REDRIVE, and the dispatcher delivers each to the subscription's
 * current sink once — signed, with the original webhook-id, through the ledger.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { Webhook } from 'standardwebhooks';
import { sealSecret } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import {
  DLQ_STREAM,
  REDRIVE_CONSUMER,
  REDRIVE_STREAM,
  redriveSubjectFor,
} from '../../core/topology.js';
import { runDlqCommand } from '../../cli/dlq-command.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import {
  countDeadLetters,
  ensureDeadLetterTopology,
  waitForDeadLetters,
  waitForDurableIdle,
} from './dead-letter-support.js';
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
  writeSubscriptions,
  type Harness,
  type SinkResponder,
  type TestSink,
} from './support.js';

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

describe('dead-letter redrive', function () {
  this.timeout(60_000);
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  const sinks: TestSink[] = [];

  before(async () => {
    h = await startHarness();
    await ensureDeadLetterTopology(h.jsm);
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function sinkWith(respond: SinkResponder): Promise<TestSink> {
    const sink = await startTestSink(respond);
    sinks.push(sink);
    return sink;
  }

  async function run(
    sub: Parameters<typeof ensureConsumer>[1],
    logger = createSilentLogger(),
  ): Promise<void> {
    await ensureEventStream(h.jsm, sub.namespace);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger,
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
    });
  }

  /** `herald dlq redrive --subscription ns/name`, in process: exit code and output lines. */
  async function redrive(id: string): Promise<{ code: number; out: string[]; err: string[] }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDlqCommand({
      values: { nats: h.nats.url, subscription: id, limit: '100' },
      positionals: ['redrive'],
      usage: 'usage',
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    });
    return { code, out, err };
  }

  async function redriveMetric(labels: Record<string, string>): Promise<number> {
    const metric = await dispatcher!.registry
      .getSingleMetric('herald_dispatcher_redrives_total')!
      .get();
    const found = metric.values.find((v) =>
      Object.entries(labels).every(([k, want]) => v.labels[k] === want),
    );
    return found?.value ?? 0;
  }

  it('re-delivers dead letters to the current sink once each; a second redrive within the window sends nothing', async () => {
    const ns = uniqueNamespace();
    const brokenSink = await sinkWith(() => ({ status: 400 }));
    const sink = await sinkWith(() => ({ status: 200 }));
    const secret = newSecret();
    const sub = buildSubscription(ns, 'orders', brokenSink.url, {
      delivery: { signingSecrets: [sealSecret(h.configKey, secret)] },
    });
    const { logger, lines } = createCapturingLogger();
    await run(sub, logger);
    for (const id of ['evt-1', 'evt-2', 'evt-3']) {
      await publishEvent(h.js, ns, { id, data: { orderId: id } });
    }
    await waitForDeadLetters(h.jsm, ns, 'orders', 3);
    const firstIds = new Map(
      (await brokenSink.waitForRequests(3)).map((r) => [
        r.headers['ce-id'],
        r.headers['webhook-id'],
      ]),
    );

    // The subscriber fixes the endpoint (a new URL) and, meanwhile, narrowed its filters:
    // a redrive goes to the current sink, and filters do not apply again.
    await writeSubscriptions(h.kv, [
      {
        ...sub,
        generation: 2,
        sink: { ...sub.sink, uri: sink.url },
        filters: [{ prefix: { id: 'nope-' } }],
      },
    ]);
    await waitFor(
      () => (lines.some((l) => l.msg === 'subscription updated in place') ? true : undefined),
      'the dispatcher to take the new sink',
    );
    const first = await redrive(`${ns}/orders`);
    assert.equal(first.code, 0, first.err.join('\n'));
    assert.deepEqual(first.out, [`queued 3 dead letters of ${ns}/orders for redelivery`]);
    const redriven = await sink.waitForRequests(3);
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);
    assert.deepEqual(redriven.map((r) => r.headers['ce-id']).sort(), ['evt-1', 'evt-2', 'evt-3']);
    for (const r of redriven) {
      assert.equal(
        r.headers['ce-heralderrorcode'],
        undefined,
        'the original event, not the dead letter',
      );
      assert.equal(
        r.headers['webhook-id'],
        firstIds.get(r.headers['ce-id']),
        'same webhook-id as before',
      );
      const headers = {
        'webhook-id': String(r.headers['webhook-id']),
        'webhook-timestamp': String(r.headers['webhook-timestamp']),
        'webhook-signature': String(r.headers['webhook-signature']),
      };
      assert.deepEqual(new Webhook(secret).verify(r.text, headers), {
        orderId: r.headers['ce-id'],
      });
    }
    assert.equal(await redriveMetric({ subscription: 'orders', outcome: 'delivered' }), 3);

    const lastSeq = (await h.jsm.streams.info(REDRIVE_STREAM)).state.last_seq;
    const second = await redrive(`${ns}/orders`);
    assert.equal(second.code, 0, second.err.join('\n'));
    assert.equal(second.out[0], `queued 0 dead letters of ${ns}/orders for redelivery`);
    assert.match(second.out[1] ?? '', /^3 already queued by a redrive within the last 2m/);
    assert.equal(
      (await h.jsm.streams.info(REDRIVE_STREAM)).state.last_seq,
      lastSeq,
      'nothing queued',
    );
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);
    assert.equal(sink.requests.length, 3);
    assert.equal(brokenSink.requests.length, 3);
    assert.equal(await countDeadLetters(h.jsm, ns, 'orders'), 3, 'dead letters stay as a record');
  });

  it('does not re-POST a redriven event the ledger already recorded (a redrive past the duplicate window)', async () => {
    const ns = uniqueNamespace();
    let fixed = false;
    const sink = await sinkWith(() => (fixed ? { status: 204 } : { status: 400 }));
    const sub = buildSubscription(ns, 'once', sink.url);
    await run(sub);
    await publishEvent(h.js, ns, { id: 'evt-once', data: {} });
    await waitForDeadLetters(h.jsm, ns, 'once', 1);
    fixed = true;
    assert.equal((await redrive(`${ns}/once`)).code, 0);
    await sink.waitForRequests(2);
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);

    // What a redrive after the duplicate window queues: the same dead letter, a new msg id.
    const stored = await h.jsm.streams.getMessage(DLQ_STREAM, {
      last_by_subj: `herald.dlq.${ns}.once`,
    });
    assert.ok(stored);
    const event = stored.json<Record<string, unknown>>();
    for (const k of Object.keys(event)) if (k.startsWith('heralderror')) delete event[k];
    const hdrs = natsHeaders();
    hdrs.set('Herald-Original-Msg-Id', stored.header.get('Herald-Original-Msg-Id'));
    await h.js.publish(redriveSubjectFor(ns, 'once'), JSON.stringify(event), {
      headers: hdrs,
      msgID: 'a-later-redrive',
    });
    await waitFor(
      async () =>
        (await redriveMetric({ subscription: 'once', outcome: 'already_delivered' })) === 1
          ? true
          : undefined,
      'the ledger hit',
    );
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);
    assert.equal(sink.requests.length, 2, 'the ledger stopped the second POST');
  });

  it('dead-letters a redriven event again when the sink still fails, after the subscription’s attempts', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 503 }));
    const sub = buildSubscription(ns, 'still-down', sink.url, {
      delivery: { retry: { maxAttempts: 2 } },
    });
    await run(sub);
    await publishEvent(h.js, ns, { id: 'evt-down', data: {} });
    await waitForDeadLetters(h.jsm, ns, 'still-down', 1);
    assert.equal((await redrive(`${ns}/still-down`)).code, 0);
    await waitForDeadLetters(h.jsm, ns, 'still-down', 2);
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);
    assert.equal(sink.requests.length, 4, '2 attempts, then 2 more on redrive');
    const again = await h.jsm.streams.getMessage(DLQ_STREAM, {
      last_by_subj: `herald.dlq.${ns}.still-down`,
    });
    assert.ok(again);
    const dl = again.json<Record<string, unknown>>();
    assert.equal(dl.id, 'evt-down');
    assert.equal(dl.heralderrorcode, 'attempts_exhausted');
    assert.equal(dl.heralderrorattempts, 2);
    assert.equal(again.header.get('Herald-Source-Stream'), REDRIVE_STREAM);
  });

  it('sends a redriven event the sink answers 410 back to HERALD_DLQ as gone', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith((_req, i) => (i === 0 ? { status: 400 } : { status: 410 }));
    await run(buildSubscription(ns, 'gone', sink.url));
    await publishEvent(h.js, ns, { id: 'evt-gone', data: {} });
    await waitForDeadLetters(h.jsm, ns, 'gone', 1);
    assert.equal((await redrive(`${ns}/gone`)).code, 0);
    await waitForDeadLetters(h.jsm, ns, 'gone', 2);
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);
    const again = await h.jsm.streams.getMessage(DLQ_STREAM, {
      last_by_subj: `herald.dlq.${ns}.gone`,
    });
    const dl = again!.json<Record<string, unknown>>();
    assert.equal(dl.heralderrorcode, 'gone');
    assert.equal(dl.heralderrorstatus, 410);
    assert.equal(sink.requests.length, 2, 'one POST on redrive, not retried');
  });

  it('drops a redrive for a subscription that no longer exists; the CLI refuses to queue one', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith(() => ({ status: 200 }));
    await run(buildSubscription(ns, 'present', sink.url));
    const refused = await redrive(`${ns}/absent`);
    assert.equal(refused.code, 1);
    assert.match(refused.err.join('\n'), /absent is not in the config/);

    await h.js.publish(
      redriveSubjectFor(ns, 'absent'),
      JSON.stringify({ specversion: '1.0', id: 'x', source: 'urn:x', type: 't' }),
    );
    await waitFor(
      async () =>
        (await redriveMetric({ subscription: 'absent', outcome: 'dropped' })) === 1
          ? true
          : undefined,
      'the redrive to be dropped',
    );
    await waitForDurableIdle(h.jsm, REDRIVE_STREAM, REDRIVE_CONSUMER);
    assert.equal(sink.requests.length, 0);
  });
});

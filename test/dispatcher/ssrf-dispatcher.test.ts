/**
 * The SSRF guard end to end: a running dispatcher with a Subscription whose sink is on
 * 127.0.0.1. Refused (never contacted, dead-lettered as forbidden_address) unless the
 * installation allows private sinks.
 */
import { strict as assert } from 'node:assert';
import type { Msg } from '@nats-io/transport-node';
import { dlqSubjectFor } from '../../core/topology.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
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

describe('dispatcher SSRF guard', () => {
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

  function nextMessage(subject: string): Promise<Msg> {
    const subscription = h.nc.subscribe(subject, { max: 1 });
    return (async () => {
      for await (const m of subscription) return m;
      throw new Error(`no message on ${subject}`);
    })();
  }

  async function setUp(name: string, allowPrivateSinks: boolean) {
    const ns = uniqueNamespace();
    sink = await startTestSink();
    // A token in the query, as webhook URLs often carry: it must not reach a log line.
    const sub = buildSubscription(ns, name, `${sink.url}?token=s3cret`);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const deadLetter = nextMessage(dlqSubjectFor(ns, name));
    const { logger, lines } = createCapturingLogger();
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger,
      allowPrivateSinks,
    });
    return { ns, sub, deadLetter, lines, sink };
  }

  it('refuses a sink on 127.0.0.1: never contacted, dead-lettered as forbidden_address', async () => {
    const { ns, sub, deadLetter, lines, sink } = await setUp('loopback-refused', false);
    const seq = await publishEvent(h.js, ns, { id: 'evt-ssrf', data: { n: 1 } });
    const dl = (await deadLetter).json<Record<string, unknown>>();
    assert.equal(dl.id, 'evt-ssrf');
    assert.equal(dl.heralderrorcode, 'forbidden_address');
    assert.equal(dl.heralderrorattempts, 1, 'not retried');
    assert.equal(dl.heralderrorstatus, undefined);
    assert.match(String(dl.heralderrorreason), /forbidden address \(loopback\)/);
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 0, 'the sink was never contacted');

    const refusal = lines.find((l) => l.msg === 'sink address refused by the SSRF policy');
    assert.ok(refusal, 'the refusal is logged');
    assert.equal(refusal.category, 'loopback');
    assert.equal(refusal.address, '127.0.0.1');
    assert.ok(
      lines.some((l) => l.msg === 'event dead-lettered' && l.code === 'forbidden_address'),
      'the dead letter is logged with its code',
    );
    const logged = JSON.stringify(lines);
    assert.doesNotMatch(logged, /s3cret|\/hook/, 'no path or query in any log line');
    assert.doesNotMatch(logged, /SSRF guard is not implemented/);
  });

  it('with allowPrivateSinks, delivers to the same sink', async () => {
    const { ns, sub, lines, sink } = await setUp('loopback-allowed', true);
    const seq = await publishEvent(h.js, ns, { id: 'evt-ok', data: { n: 2 } });
    const [request] = await sink.waitForRequests(1);
    assert.equal(request?.headers['ce-id'], 'evt-ok');
    assert.equal(request?.path, '/hook?token=s3cret');
    await waitForSettled(h.jsm, sub, seq);
    assert.equal(sink.requests.length, 1);
    assert.ok(!lines.some((l) => l.msg === 'sink address refused by the SSRF policy'));
  });
});

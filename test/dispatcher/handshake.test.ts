/**
 * `sink.verification: handshake` end to end (CloudEvents webhook spec §4): the sink is asked
 * with OPTIONS before anything is POSTed, consents only through WebHook-Allowed-Origin, and a
 * granted WebHook-Allowed-Rate caps the delivery rate. Real nats-server, real HTTP sinks.
 */
import { strict as assert } from 'node:assert';
import { createSilentLogger } from '../../core/logging.js';
import { sealSecret } from '../../core/config/seal.js';
import {
  VerificationReason,
  VerificationStatus,
  type VerificationState,
} from '../../dispatcher/handshake.js';
import { openDeliveryStateBucket, readDeliveryState } from '../../core/delivery-state.js';
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
  type RecordedRequest,
  type SinkResponder,
  type TestSink,
} from './support.js';

const ORIGIN = 'events.herald.test';
const isOptions = (r: RecordedRequest): boolean => r.method === 'OPTIONS';
const isPost = (r: RecordedRequest): boolean => r.method === 'POST';

/** A sink that answers OPTIONS with `consent(n)` (n = how many OPTIONS so far) and POSTs 200. */
function consentingSink(consent: (n: number) => Record<string, string> | number): SinkResponder {
  let n = 0;
  return (req) => {
    if (req.method !== 'OPTIONS') return { status: 200 };
    const answer = consent(n++);
    return typeof answer === 'number' ? { status: answer } : { status: 200, headers: answer };
  };
}

describe('dispatcher webhook validation handshake', function () {
  this.timeout(60_000);
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  const sinks: TestSink[] = [];
  let states: [string, VerificationState][] = [];

  before(async () => {
    h = await startHarness();
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
    states = [];
  });

  async function sinkWith(respond: SinkResponder): Promise<TestSink> {
    const sink = await startTestSink(respond);
    sinks.push(sink);
    return sink;
  }

  async function run(webhookOrigin?: string): Promise<RunningDispatcher> {
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true,
      ...(webhookOrigin && { webhookOrigin }),
      handshakeRetry: { initialMs: 50, maxMs: 200 },
      onVerification: (id, state) => states.push([id, state]),
    });
    return dispatcher;
  }

  it('asks with OPTIONS first, then delivers to a sink that allows this origin', async () => {
    const sink = await sinkWith(
      consentingSink(() => ({
        'webhook-allowed-origin': ORIGIN,
        'webhook-allowed-rate': '6000',
        allow: 'POST',
      })),
    );
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'orders', sink.url, {
      sink: {
        verification: 'handshake',
        auth: { apiKey: { header: 'X-Api-Key', value: sealSecret(h.configKey, 'k-123') } },
      },
      delivery: { rateLimit: { eventsPerSecond: 50 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run(ORIGIN);

    for (let i = 0; i < 3; i++) await publishEvent(h.js, ns, { id: `a-${i}` });
    const [first, ...rest] = await sink.waitForRequests(4);
    assert.ok(first);
    assert.equal(first.method, 'OPTIONS');
    assert.equal(first.path, '/hook', 'the validation request goes to the sink URI itself');
    assert.equal(first.headers['webhook-request-origin'], ORIGIN);
    assert.equal(first.headers['webhook-request-rate'], '3000', '50 events/s as per minute');
    assert.equal(first.headers['webhook-request-callback'], undefined, 'no callback offered');
    assert.equal(first.headers['x-api-key'], 'k-123', 'with the sink’s credentials');
    assert.match(String(first.headers['user-agent']), /^Herald\//);
    assert.deepEqual(rest.map((r) => [r.method, r.headers['ce-id']]).sort(), [
      ['POST', 'a-0'],
      ['POST', 'a-1'],
      ['POST', 'a-2'],
    ]);

    for (let i = 3; i < 6; i++) await publishEvent(h.js, ns, { id: `a-${i}` });
    const all = await sink.waitForRequests(7);
    assert.equal(all.filter(isOptions).length, 1, 'verified once, not per event');
    const id = `${ns}/orders`;
    assert.equal(d.verificationOf(id)?.status, VerificationStatus.Verified);
    assert.equal(d.verificationOf(id)?.allowedRatePerMinute, 6000);
    assert.deepEqual(
      states.filter(([s]) => s === id).map(([, s]) => s.status),
      [VerificationStatus.Pending, VerificationStatus.Verified],
    );
    // Recorded for the operator's SinkVerified condition.
    const stateKv = await openDeliveryStateBucket(h.js);
    const recorded = await waitFor(async () => {
      const st = (await readDeliveryState(stateKv, ns, 'orders'))?.state;
      return st?.sinkVerification?.status === 'verified' ? st : undefined;
    }, 'the verification in the delivery state');
    assert.match(recorded.sinkVerification?.message ?? '', /127\.0\.0\.1/);
  });

  it('takes `*` as consent; no WebHook-Request-Rate without a rate limit', async () => {
    const sink = await sinkWith(consentingSink(() => ({ 'webhook-allowed-origin': '*' })));
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'orders', sink.url, { sink: { verification: 'handshake' } });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run(); // default origin

    await publishEvent(h.js, ns, { id: 'b-1' });
    const [options, post] = await sink.waitForRequests(2);
    assert.equal(options?.method, 'OPTIONS');
    assert.equal(options?.headers['webhook-request-origin'], 'herald');
    assert.equal(options?.headers['webhook-request-rate'], undefined);
    assert.equal(post?.method, 'POST');
    assert.equal(post?.headers['ce-id'], 'b-1');
    const state = d.verificationOf(`${ns}/orders`);
    assert.equal(state?.status, VerificationStatus.Verified);
    assert.equal(state?.allowedRatePerMinute, undefined, 'no cap granted');
  });

  it('delivers nothing while the sink does not consent, and everything once it does', async () => {
    let consenting = false;
    const sink = await sinkWith(
      consentingSink((n): Record<string, string> | number => {
        if (consenting) return { 'webhook-allowed-origin': ORIGIN };
        if (n === 0) return 405; // does not do OPTIONS
        if (n === 1) return { allow: 'POST' }; // 200, but no consent header
        return { 'webhook-allowed-origin': 'someone-else.example' };
      }),
    );
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'orders', sink.url, { sink: { verification: 'handshake' } });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run(ORIGIN);
    const id = `${ns}/orders`;

    let lastSeq = 0;
    for (let i = 0; i < 3; i++) lastSeq = await publishEvent(h.js, ns, { id: `c-${i}` });
    await waitFor(
      () => (sink.requests.filter(isOptions).length >= 4 ? true : undefined),
      'four validation requests',
    );
    assert.equal(sink.requests.filter(isPost).length, 0, 'no POST without consent');
    assert.equal(d.verificationOf(id)?.status, VerificationStatus.Refused);
    assert.equal(d.verificationOf(id)?.reason, VerificationReason.OriginNotAllowed);
    assert.deepEqual(
      [...new Set(states.filter(([s]) => s === id).map(([, s]) => s.reason))],
      [
        VerificationReason.Verifying,
        VerificationReason.NoConsent,
        VerificationReason.OriginNotAllowed,
      ],
    );
    const c = sub.consumers[0]!;
    const info = await h.jsm.consumers.info(c.stream, c.durable);
    assert.equal(info.ack_floor.stream_seq, 0, 'nothing acked: the events wait');
    assert.equal(info.num_pending + info.num_ack_pending, 3);
    assert.equal(info.delivered.stream_seq, lastSeq);

    consenting = true;
    await waitFor(
      () => (sink.requests.filter(isPost).length >= 3 ? true : undefined),
      'the waiting events to arrive',
    );
    const posted = sink.requests.filter(isPost).map((r) => String(r.headers['ce-id']));
    assert.deepEqual(posted.sort(), ['c-0', 'c-1', 'c-2']);
    const firstPost = sink.requests.findIndex(isPost);
    const lastOptions = sink.requests.map(isOptions).lastIndexOf(true);
    assert.ok(lastOptions < firstPost, 'every POST after the consenting answer');
    assert.equal(d.verificationOf(id)?.status, VerificationStatus.Verified);
  });

  it('caps deliveries at the granted WebHook-Allowed-Rate', async () => {
    const sink = await sinkWith(
      consentingSink(() => ({ 'webhook-allowed-origin': '*', 'webhook-allowed-rate': '120' })),
    );
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'orders', sink.url, {
      sink: { verification: 'handshake' },
      delivery: { maxInFlight: 16, rateLimit: { eventsPerSecond: 100 } },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    for (let i = 0; i < 6; i++) await publishEvent(h.js, ns, { id: `d-${i}` });
    await writeSubscriptions(h.kv, [sub]);
    const d = await run();

    const requests = await sink.waitForRequests(7, 30_000);
    const posts = requests.filter(isPost);
    assert.equal(posts.length, 6);
    assert.equal(d.verificationOf(`${ns}/orders`)?.allowedRatePerMinute, 120);
    // 120/min = 2/s with a burst of 2: the last 4 need at least 2 s (100/s would take 0).
    const times = posts.map((r) => r.receivedAt);
    const spanMs = Math.max(...times) - Math.min(...times);
    assert.ok(spanMs >= 1_500, `6 events at 120/min arrived within ${spanMs} ms`);
  });

  it('verifies a new sink URI before delivering to it, releasing events held for the old one', async () => {
    const refusing = await sinkWith(consentingSink(() => ({})));
    const consenting = await sinkWith(consentingSink(() => ({ 'webhook-allowed-origin': '*' })));
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'orders', refusing.url, {
      sink: { verification: 'handshake' },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run();

    for (let i = 0; i < 3; i++) await publishEvent(h.js, ns, { id: `e-${i}` });
    await waitFor(
      () => (d.verificationOf(`${ns}/orders`)?.status === 'refused' ? true : undefined),
      'the first sink to refuse',
    );
    // Every slot now holds an event waiting for the first sink's consent.
    await writeSubscriptions(h.kv, [
      { ...sub, generation: 2, sink: { ...sub.sink, uri: consenting.url } },
    ]);
    const got = await consenting.waitForRequests(4, 30_000);
    assert.equal(got[0]?.method, 'OPTIONS', 'the new sink is asked first');
    assert.deepEqual(
      got
        .filter(isPost)
        .map((r) => String(r.headers['ce-id']))
        .sort(),
      ['e-0', 'e-1', 'e-2'],
    );
    assert.equal(refusing.requests.filter(isPost).length, 0, 'the old sink got no event');
  });

  it('refuses to start with a webhook origin that is not a DNS name', async () => {
    await assert.rejects(
      startDispatcher({
        natsUrl: h.nats.url,
        configKey: h.configKey,
        logger: createSilentLogger(),
        webhookOrigin: 'not a name!',
      }),
      /webhook origin must be a DNS name/,
    );
  });
});

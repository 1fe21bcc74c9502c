/**
 * The attempts log: every POST leaves one record in HERALD_ATTEMPTS saying when, what the sink
 * answered (status, excerpt) or why it did not, how long it took and what came next — and
 * never the request, the payload or a credential. Publishing it must never hold up delivery.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { DeliverPolicy, type JetStreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { runAttemptsCommand } from '../../cli/attempts-command.js';
import { sealSecret } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import { ATTEMPTS_STREAM, attemptsSubjectFor } from '../../core/topology.js';
import { AttemptsLog, type AttemptLogEntry } from '../../dispatcher/attempts-log.js';
import type { AttemptRecord } from '../../dispatcher/delivery-hooks.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import { createDispatcherMetrics } from '../../dispatcher/metrics.js';
import type { PreparedSubscription } from '../../dispatcher/prepare.js';
import { buildSystemStreamConfigs } from '../../operator/jetstream-config.js';
import {
  buildSubscription,
  CE_TYPE,
  createCapturingLogger,
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

/** The operator's own HERALD_ATTEMPTS config. */
async function createAttemptsStream(jsm: JetStreamManager): Promise<void> {
  const config = buildSystemStreamConfigs().find((s) => s.name === ATTEMPTS_STREAM);
  assert.ok(config);
  await jsm.streams.add(config);
}

async function countRecords(jsm: JetStreamManager, subject: string): Promise<number> {
  const info = await jsm.streams.info(ATTEMPTS_STREAM, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/** Waits for `count` records on the subscription's subject and returns them, oldest first. */
async function readRecords(
  h: { js: JetStreamClient; jsm: JetStreamManager },
  namespace: string,
  name: string,
  count: number,
): Promise<{ records: AttemptLogEntry[]; raw: string[] }> {
  const subject = attemptsSubjectFor(namespace, name);
  await waitFor(
    async () => ((await countRecords(h.jsm, subject)) >= count ? true : undefined),
    `${count} attempt records on ${subject}`,
    20_000,
  );
  const consumer = await h.js.consumers.get(ATTEMPTS_STREAM, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.All,
  });
  const raw: string[] = [];
  const messages = await consumer.fetch({ max_messages: count, expires: 5_000 });
  for await (const m of messages) raw.push(m.string());
  await consumer.delete().catch(() => undefined);
  return { records: raw.map((r) => JSON.parse(r) as AttemptLogEntry), raw };
}

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

describe('attempts log', function () {
  this.timeout(60_000);
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  const sinks: TestSink[] = [];

  before(async () => {
    h = await startHarness();
    await createAttemptsStream(h.jsm);
  });
  after(() => h.stop());
  afterEach(async () => {
    for (const s of sinks) s.release();
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(sinks.splice(0).map((s) => s.stop()));
  });

  async function sinkWith(...args: Parameters<typeof startTestSink>): Promise<TestSink> {
    const sink = await startTestSink(...args);
    sinks.push(sink);
    return sink;
  }

  async function run(options: { attemptsLog?: boolean } = {}): Promise<RunningDispatcher> {
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: createSilentLogger(),
      allowPrivateSinks: true, // the test sinks listen on 127.0.0.1
      ...options,
    });
    return dispatcher;
  }

  it('records a 503 with its body, a timeout and a 2xx: three records, no secrets, no payload', async () => {
    const ns = uniqueNamespace();
    const errorBody = `{"error":"overloaded"}${'x'.repeat(5 * 1024)}`;
    const sink = await sinkWith((_req, i) => {
      if (i === 0) return { status: 503, body: errorBody };
      if (i === 1) return 'hang'; // answered only after the dispatcher gave up: a timeout
      return { status: 200, body: 'thanks' };
    });
    const apiKey = `k-${randomBytes(8).toString('hex')}`;
    const signingSecret = newSecret();
    const sub = buildSubscription(ns, 'orders', sink.url, {
      sink: { auth: { apiKey: { header: 'X-Api-Key', value: sealSecret(h.configKey, apiKey) } } },
      delivery: {
        timeoutMs: 1_000,
        signingSecrets: [sealSecret(h.configKey, signingSecret)],
      },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const started = Date.now();
    await run();

    const marker = `payload-${randomBytes(6).toString('hex')}`;
    const seq = await publishEvent(h.js, ns, { id: 'evt-a1', data: { orderId: marker } });
    const requests = await sink.waitForRequests(3);
    await waitForSettled(h.jsm, sub, seq);
    const { records, raw } = await readRecords(h, ns, 'orders', 3);

    assert.deepEqual(
      records.map((r) => [r.attempt, r.outcome, r.status ?? r.failure]),
      [
        [1, 'retry', 503],
        [2, 'retry', 'timeout'],
        [3, 'delivered', 200],
      ],
    );
    const webhookId = String(requests[0]?.headers['webhook-id']);
    for (const r of records) {
      assert.equal(r.subscription, `${ns}/orders`);
      assert.equal(r.eventId, 'evt-a1');
      assert.equal(r.eventType, CE_TYPE);
      assert.equal(r.source, 'https://acme.example/orders');
      assert.equal(r.webhookId, webhookId, 'the webhook-id the sink received');
      assert.equal(r.stream, sub.consumers[0]?.stream);
      assert.equal(r.sequence, seq);
      assert.equal(r.maxAttempts, 5);
      assert.match(r.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      const at = Date.parse(r.time);
      assert.ok(at >= started - 1_000 && at <= Date.now(), 'the start of the attempt');
      assert.equal(typeof r.latencyMs, 'number');
    }
    const [first, second, third] = records as [AttemptLogEntry, AttemptLogEntry, AttemptLogEntry];
    assert.equal(first.responseExcerpt, errorBody.slice(0, 1024), 'the first 1 KiB of the body');
    assert.equal(first.error, 'sink answered HTTP 503');
    assert.equal(typeof first.retryInMs, 'number');
    assert.equal(second.status, undefined);
    assert.match(String(second.error), /^timeout: no response within 1000 ms/);
    assert.equal(second.responseExcerpt, undefined);
    assert.equal(third.error, undefined);
    assert.equal(third.responseExcerpt, undefined, 'a 2xx body is not kept');
    assert.equal(third.retryInMs, undefined);

    const stored = raw.join('\n');
    const secretBase64 = signingSecret.slice('whsec_'.length);
    for (const forbidden of [apiKey, secretBase64, marker, 'x-api-key', 'webhook-signature']) {
      assert.ok(!stored.includes(forbidden), `a record holds "${forbidden}"`);
    }

    // `herald attempts` prints the same three, oldest first.
    const out: string[] = [];
    const code = await runAttemptsCommand({
      values: { nats: h.nats.url, subscription: `${ns}/orders`, limit: '100' },
      usage: '',
      out: (l) => out.push(l),
      err: (l) => out.push(`stderr: ${l}`),
    });
    assert.equal(code, 0);
    assert.match(out[0] ?? '', /^TIME\s+EVENT ID\s+ATTEMPT\s+OUTCOME\s+STATUS\s+LATENCY\s+ERROR/);
    assert.equal(out.length, 4, out.join('\n'));
    assert.match(
      out[1] ?? '',
      /evt-a1\s+1\/5\s+retry\s+503\s+\d+ ms\s+sink answered HTTP 503.*response: \{"error":"overloaded"\}x+…$/,
    );
    assert.match(out[2] ?? '', /evt-a1\s+2\/5\s+retry\s+timeout\s+\d+ ms\s+timeout: no response/);
    assert.match(out[3] ?? '', /evt-a1\s+3\/5\s+delivered\s+200\s+\d+ ms$/);
  });

  it('records a 400 as dead_letter with its code and a 410 as pause', async () => {
    const ns = uniqueNamespace();
    const rejecting = await sinkWith(() => ({ status: 400, body: 'bad order\nline two' }));
    const gone = await sinkWith(() => ({ status: 410, body: 'unsubscribed' }));
    const rejected = buildSubscription(ns, 'rejected', rejecting.url);
    const paused = buildSubscription(ns, 'paused', gone.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, rejected);
    await ensureConsumer(h.jsm, paused);
    await writeSubscriptions(h.kv, [rejected, paused]);
    await run();

    await publishEvent(h.js, ns, { id: 'evt-b1' });
    const [dead] = (await readRecords(h, ns, 'rejected', 1)).records;
    assert.equal(dead?.outcome, 'dead_letter');
    assert.equal(dead?.deadLetterCode, 'rejected');
    assert.equal(dead?.status, 400);
    assert.equal(dead?.responseExcerpt, 'bad order\nline two');
    const [pause] = (await readRecords(h, ns, 'paused', 1)).records;
    assert.equal(pause?.outcome, 'pause');
    assert.equal(pause?.status, 410);
    assert.match(String(pause?.error), /Gone/);
    assert.equal(pause?.responseExcerpt, 'unsubscribed');
  });

  it('records nothing when turned off', async () => {
    const ns = uniqueNamespace();
    const sink = await sinkWith();
    const sub = buildSubscription(ns, 'quiet', sink.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const d = await run({ attemptsLog: false });

    const seq = await publishEvent(h.js, ns, { id: 'evt-c1' });
    await sink.waitForRequests(1);
    await waitForSettled(h.jsm, sub, seq);
    await d.stop();
    assert.equal(await countRecords(h.jsm, attemptsSubjectFor(ns, 'quiet')), 0);
  });

  it('drops records past the pending bound instead of queueing them, and counts them', async () => {
    const metrics = createDispatcherMetrics();
    const { logger, lines } = createCapturingLogger();
    const log = new AttemptsLog({ nc: h.nc, metrics, logger, maxPending: 2 });
    const ns = uniqueNamespace();
    const record = (attempt: number): AttemptRecord => ({
      subscription: {
        id: `${ns}/burst`,
        namespace: ns,
        name: 'burst',
        retry: { maxAttempts: 5 },
      } as unknown as PreparedSubscription,
      event: {
        attributes: { specversion: '1.0', id: `e${attempt}`, source: 's', type: 't' },
        data: undefined,
      },
      messageId: 'm',
      webhookId: 'msg_x',
      stream: 'S',
      streamSequence: attempt,
      attempt,
      startedAt: Date.now(),
      latencyMs: 1,
      result: { kind: 'response', status: 204 },
      step: { action: 'ack' },
    });
    // Acknowledgements arrive asynchronously: five records in one go overflow a window of two.
    for (let i = 1; i <= 5; i++) log.afterAttempt(record(i));
    assert.equal(log.pending, 2);
    await log.close();

    const counted = await metrics.registry.getSingleMetricAsString(
      'herald_dispatcher_attempt_records_total',
    );
    assert.match(counted, /result="published"} 2/);
    assert.match(counted, /result="dropped"} 3/);
    assert.equal(await countRecords(h.jsm, attemptsSubjectFor(ns, 'burst')), 2);
    const warnings = lines.filter((l) => String(l.msg).startsWith('attempt records not stored'));
    assert.ok(warnings.length >= 1 && warnings.length <= 2, 'rate-limited warnings');
    assert.equal(
      warnings.reduce((n, l) => n + Number(l.dropped), 0),
      3,
    );
  });
});

describe('attempts log without HERALD_ATTEMPTS', function () {
  this.timeout(60_000);
  let h: Harness;

  before(async () => {
    h = await startHarness(); // creates HERALD_DLQ only
  });
  after(() => h.stop());

  it('still delivers every event, and counts and logs (rate-limited) the failed records', async () => {
    const ns = uniqueNamespace();
    const sink = await startTestSink();
    const sub = buildSubscription(ns, 'orders', sink.url);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const { logger, lines } = createCapturingLogger();
    const d = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger,
      allowPrivateSinks: true,
    });
    try {
      let seq = 0;
      for (let i = 0; i < 5; i++) seq = await publishEvent(h.js, ns, { id: `evt-d${i}` });
      await sink.waitForRequests(5);
      await waitForSettled(h.jsm, sub, seq);
      await waitFor(async () => {
        const text = await d.registry.getSingleMetricAsString(
          'herald_dispatcher_attempt_records_total',
        );
        return /result="failed"} 5/.test(text) ? true : undefined;
      }, 'five failed attempt records');
    } finally {
      await d.stop();
      await sink.stop();
    }
    assert.equal(sink.requests.length, 5, 'every event delivered, once');
    const warnings = lines.filter((l) => String(l.msg).startsWith('attempt records not stored'));
    assert.ok(warnings.length >= 1 && warnings.length <= 2, `${warnings.length} warnings`);
    assert.equal(
      warnings.reduce((n, l) => n + Number(l.failed), 0),
      5,
    );
    assert.match(String(warnings[0]?.error), /HERALD_ATTEMPTS is missing/);
    assert.equal(warnings[0]?.level, 40, 'a warning, not an error');
  });
});

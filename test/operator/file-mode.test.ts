/**
 * The operator in file mode against a real nats-server: a directory of YAML in, the config in
 * KV `herald-config` and the JetStream objects out, re-applied when files change.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { setTimeout } from 'node:timers/promises';
import { readConfigEntries } from '../../core/config/kv.js';
import type { CompiledProducer, CompiledSubscription } from '../../core/config/model.js';
import { hashApiKey } from '../../core/config/seal.js';
import { isReportEmpty } from '../../operator/jetstream-apply.js';
import type { OperatorApplyResult } from '../../operator/main.js';
import {
  API_KEY,
  eventTypesYaml,
  ms,
  nextApplied,
  NS,
  SIGNING,
  subscriptionYaml,
  useFileModeHarness,
} from './file-mode-harness.js';

describe('operator in file mode', function () {
  this.timeout(30_000);
  const h = useFileModeHarness();

  it('compiles the directory into KV, a stream per EventType and a consumer per (Subscription, EventType)', async () => {
    await h.start();
    const entries = await readConfigEntries(h.kv);
    assert.deepEqual([...entries.keys()].sort(), [
      'eventtype.shop.order-created',
      'eventtype.shop.order-refunded',
      'producer.shop.acme',
      'subscription.shop.partner-orders',
    ]);
    const producer = JSON.parse(entries.get('producer.shop.acme') ?? '') as CompiledProducer;
    assert.deepEqual(producer.apiKeyHashes, [hashApiKey(API_KEY)]);
    for (const text of entries.values()) {
      assert.ok(!text.includes(API_KEY) && !text.includes(SIGNING), 'a clear secret reached KV');
    }

    const created = await h.jsm.streams.info('HERALD_EVT_shop_order-created');
    assert.deepEqual(created.config.subjects, ['herald.evt.shop.order-created']);
    assert.equal(created.config.duplicate_window, ms(60_000));
    assert.equal(created.config.max_age, ms(24 * 3_600_000));
    assert.equal(created.config.max_bytes, 16 * 1024 * 1024);
    const refunded = await h.jsm.streams.info('HERALD_EVT_shop_order-refunded');
    assert.deepEqual(refunded.config.subjects, ['herald.evt.shop.order-refunded']);
    assert.equal(refunded.config.duplicate_window, ms(120_000));
    assert.deepEqual((await h.jsm.streams.info('HERALD_DLQ')).config.subjects, ['herald.dlq.>']);
    assert.deepEqual((await h.jsm.streams.info('HERALD_ATTEMPTS')).config.subjects, [
      'herald.attempts.>',
    ]);
    const redrive = (await h.jsm.streams.info('HERALD_REDRIVE')).config;
    assert.deepEqual(redrive.subjects, ['herald.redrive.>']);
    assert.equal(redrive.retention, 'workqueue');
    // The dispatchers' shared durables: dead-letter sink delivery and redrive.
    for (const [stream, durable] of [
      ['HERALD_DLQ', 'herald-dlq-sink'],
      ['HERALD_REDRIVE', 'herald-redrive'],
    ] as const) {
      const c = await h.consumerConfig(stream, durable);
      assert.equal(c.ack_policy, 'explicit');
      assert.equal(c.max_deliver, -1);
    }

    for (const et of ['order-created', 'order-refunded']) {
      const c = await h.consumerConfig(`HERALD_EVT_shop_${et}`, 'partner-orders');
      assert.equal(c.durable_name, 'partner-orders');
      assert.equal(c.ack_policy, 'explicit');
      assert.equal(c.deliver_policy, 'new');
      assert.equal(c.filter_subject, `herald.evt.shop.${et}`);
      assert.equal(c.max_deliver, 5); // maxAttempts 4 + the spare that only dead-letters
      assert.equal(c.ack_wait, ms(35_000)); // max(2 × 5 s, 5 s + 30 s)
      assert.equal(c.max_ack_pending, 3);
    }
    // The Namespace document is skipped (a debug line), not a problem.
    assert.ok(
      h.logLines.some(
        (l) => l.msg === 'document skipped: not a kind Herald reads' && l.kind === 'Namespace',
      ),
    );
  });

  it('writes nothing on a second apply with no change', async () => {
    const operator = await h.start();
    const again = await operator.applyNow();
    assert.equal(again.changed, false);
    assert.deepEqual(again.kv, { put: [], deleted: [] });
    assert.ok(isReportEmpty(again.topology), JSON.stringify(again.topology));
    assert.deepEqual(again.problems, []);
  });

  it('reports an invalid document by file, resource and field, logs no secret, and applies the rest', async () => {
    h.write(
      'broken.yaml',
      `
apiVersion: herald.dev/v1alpha1
kind: Subscription
metadata: { name: broken-sub, namespace: ${NS} }
spec:
  eventTypes: [order-created]
  sink: { uri: "https://partner.example/x" }
  delivery: { maxInFlight: lots }
---
apiVersion: v1
kind: Secret
metadata: { name: leaky, namespace: ${NS} }
data: { token: "not base64 because-hunter2-is-secret" }
`,
    );
    h.write('syntax.yaml', 'kind: EventType\nmetadata: { name: x\nspec: [\n');
    const operator = await h.start();
    h.logLines.length = 0; // only this apply's lines: each apply logs every problem once
    const result = await operator.applyNow();

    const sub = result.problems.find((p) => p.name === 'broken-sub');
    assert.ok(sub, JSON.stringify(result.problems));
    assert.match(sub.file ?? '', /broken\.yaml$/);
    assert.equal(sub.kind, 'Subscription');
    assert.equal(sub.path, 'spec.delivery.maxInFlight');
    const syntax = result.problems.find((p) => p.reason === 'InvalidYaml');
    assert.match(syntax?.file ?? '', /syntax\.yaml$/);
    assert.equal(typeof syntax?.line, 'number');

    // Everything valid still applied.
    const keys = [...(await readConfigEntries(h.kv)).keys()];
    assert.ok(keys.includes('subscription.shop.partner-orders'));
    assert.ok(!keys.includes('subscription.shop.broken-sub'));

    type ProblemLine = {
      resource?: { kind?: string; name?: string };
      path?: string;
      file?: string;
      msg: string;
    };
    const warned = h.logLines.filter((l) => l.level === 40) as ProblemLine[];
    const line = warned.find((l) => l.resource?.name === 'broken-sub');
    assert.ok(line, 'the problem is logged');
    assert.equal(line.resource?.kind, 'Subscription');
    assert.equal(line.path, 'spec.delivery.maxInFlight');
    assert.match(String(line.file), /broken\.yaml$/);
    assert.match(
      line.msg,
      /broken\.yaml:\d+ Subscription shop\/broken-sub: spec\.delivery\.maxInFlight: /,
    );
    assert.equal(warned.filter((l) => l.resource?.name === 'broken-sub').length, 1, 'logged once');
    assert.ok(warned.some((l) => l.resource?.name === 'leaky' && l.path === 'data.token'));
    const allLogs = JSON.stringify(h.logLines);
    for (const secret of ['hunter2', API_KEY, SIGNING])
      assert.ok(!allLogs.includes(secret), secret);
  });

  it('applies edits to the files while running', async () => {
    const operator = await h.start(true);
    // Two files written in a row may settle in one apply or two: wait for both edits.
    const applied = nextApplied(
      operator,
      (r) =>
        r.config.subscriptions[0]?.delivery.retry.maxAttempts === 6 &&
        r.config.eventTypes[0]?.duplicateWindowMs === 90_000,
    );
    h.write('event-types.yaml', eventTypesYaml({ duplicateWindow: '90s', maxAge: '24h' }));
    h.write('subscription.yml', subscriptionYaml(6));
    await applied;
    const stream = await h.jsm.streams.info('HERALD_EVT_shop_order-created');
    assert.equal(stream.config.duplicate_window, ms(90_000));
    assert.equal(
      (await h.consumerConfig('HERALD_EVT_shop_order-created', 'partner-orders')).max_deliver,
      7,
    );
    const entry = (await readConfigEntries(h.kv)).get('subscription.shop.partner-orders') ?? '';
    assert.equal((JSON.parse(entry) as CompiledSubscription).delivery.retry.maxAttempts, 6);
  });

  it('lets a file settle before applying it when it is written in several steps', async () => {
    const operator = await h.start(true, { debounceMs: 300 });
    const seen: OperatorApplyResult[] = [];
    operator.on('applied', (r) => seen.push(r));
    const applied = nextApplied(operator, (r) =>
      r.config.eventTypes.some((e) => e.name === 'late'),
    );
    const full = `apiVersion: herald.dev/v1alpha1\nkind: EventType\nmetadata: { name: late, namespace: ${NS} }\nspec: { type: com.example.late }\n`;
    h.write('late.yaml', full.slice(0, full.indexOf('namespace'))); // an unclosed { … }: invalid YAML
    await setTimeout(30); // a slow writer: the rest arrives well within the quiet time
    h.write('late.yaml', full);
    await applied;
    // No apply read the half-written file.
    assert.deepEqual(
      seen.flatMap((r) => r.problems),
      [],
    );
  });

  it('logs a failed apply while NATS is away and retries it with backoff, without throwing', async () => {
    const operator = await h.start(false, { requestTimeoutMs: 1_000, retry: { initialMs: 100 } });
    await h.nats.process.kill();
    const failed = once(operator, 'apply-failed');
    await assert.rejects(operator.applyNow());
    await failed;
    assert.ok(
      h.logLines.some(
        (l) =>
          l.level === 50 && l.msg === 'apply failed; will retry' && typeof l.retryInMs === 'number',
      ),
    );
    const recovered = nextApplied(operator);
    await h.nats.restart();
    await recovered;
  });

  it('never runs two applies at once: requests during an apply share one more apply', async () => {
    const operator = await h.start();
    const first = operator.applyNow();
    const second = operator.applyNow();
    const third = operator.applyNow();
    assert.notEqual(first, second);
    assert.equal(second, third);
    await Promise.all([first, second]);
  });
});

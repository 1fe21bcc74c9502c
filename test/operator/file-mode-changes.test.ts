/**
 * File mode over time: removed and broken resources, and JetStream objects changed or deleted
 * behind Herald's back.
 */
import { strict as assert } from 'node:assert';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { readConfigEntries } from '../../core/config/kv.js';
import { ErrorCode, isHeraldError } from '../../core/errors.js';
import { isReportEmpty } from '../../operator/jetstream-apply.js';
import {
  eventTypesYaml,
  ms,
  nextApplied,
  subscriptionYaml,
  useFileModeHarness,
} from './file-mode-harness.js';

describe('operator in file mode, over time', function () {
  this.timeout(30_000);
  const h = useFileModeHarness();

  /** The subjects of JetStream API requests and config KV writes, in the order the server saw them. */
  async function sniff(): Promise<{ seen: string[]; close: () => Promise<void> }> {
    const nc = await h.nats.connect();
    const seen: string[] = [];
    for (const subject of ['$JS.API.>', '$KV.herald-config.>']) {
      nc.subscribe(subject, {
        callback: (_err, msg) => {
          seen.push(msg.subject);
        },
      });
    }
    await nc.flush();
    return { seen, close: () => nc.close() };
  }
  const waitSeen = async (seen: string[], pattern: RegExp): Promise<number> => {
    for (let i = 0; i < 200; i++) {
      const at = seen.findIndex((s) => pattern.test(s));
      if (at !== -1) return at;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`never saw ${pattern}`);
  };

  it('creates streams and consumers before KV names them, and deletes only after KV stops naming them', async () => {
    const { seen, close } = await sniff();
    try {
      const operator = await h.start();
      const kvEventType = await waitSeen(
        seen,
        /^\$KV\.herald-config\.eventtype\.shop\.order-created$/,
      );
      const kvSubscription = await waitSeen(
        seen,
        /^\$KV\.herald-config\.subscription\.shop\.partner-orders$/,
      );
      const stream = await waitSeen(
        seen,
        /^\$JS\.API\.STREAM\.CREATE\.HERALD_EVT_shop_order-created$/,
      );
      const consumer = await waitSeen(
        seen,
        /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.HERALD_EVT_shop_order-created\.partner-orders/,
      );
      assert.ok(stream < kvEventType, `stream at ${stream}, KV at ${kvEventType}`);
      assert.ok(consumer < kvSubscription, `consumer at ${consumer}, KV at ${kvSubscription}`);

      seen.length = 0;
      unlinkSync(join(h.dir, 'subscription.yml'));
      await operator.applyNow();
      const kvDeleted = await waitSeen(
        seen,
        /^\$KV\.herald-config\.subscription\.shop\.partner-orders$/,
      );
      const deleted = await waitSeen(
        seen,
        /^\$JS\.API\.CONSUMER\.DELETE\.HERALD_EVT_shop_order-created\.partner-orders$/,
      );
      assert.ok(kvDeleted < deleted, `KV delete at ${kvDeleted}, consumer delete at ${deleted}`);
    } finally {
      await close();
    }
  });

  it('finds in JetStream what a failed apply left to delete, with the deletionPolicy the stream carries', async () => {
    const first = await h.start();
    await first.stop();
    // What an apply that wrote KV and then failed leaves behind: KV no longer names the
    // Subscription or the Delete-policy EventType, but the consumers and the stream remain.
    unlinkSync(join(h.dir, 'subscription.yml'));
    const [orderCreatedOnly] = eventTypesYaml({ duplicateWindow: '1m', maxAge: '24h' }).split(
      '---',
    );
    h.write('event-types.yaml', orderCreatedOnly ?? '');
    await h.kv.delete('eventtype.shop.order-refunded');
    await h.kv.delete('subscription.shop.partner-orders');

    // A new operator process: it has no memory of the previous config.
    await h.start();
    assert.equal(await h.streamExists('HERALD_EVT_shop_order-refunded'), false);
    assert.equal(await h.streamExists('HERALD_EVT_shop_order-created'), true);
    const names = (await h.jsm.consumers.list('HERALD_EVT_shop_order-created').next()).map(
      (c) => c.name,
    );
    assert.deepEqual(names, []);
  });

  it('refuses applyNow() once stopped, with a typed error', async () => {
    const operator = await h.start();
    await operator.stop();
    await assert.rejects(operator.applyNow(), (err: unknown) =>
      isHeraldError(err, ErrorCode.OperatorStopped),
    );
  });

  it('removes the consumers of a removed Subscription', async () => {
    const operator = await h.start(true);
    const applied = nextApplied(operator, (r) => r.config.subscriptions.length === 0);
    unlinkSync(join(h.dir, 'subscription.yml'));
    const result = await applied;
    const deleted = result.topology.deleted.map((c) => `${c.stream}/${c.consumer}`).sort();
    assert.deepEqual(deleted, [
      'HERALD_EVT_shop_order-created/partner-orders',
      'HERALD_EVT_shop_order-refunded/partner-orders',
    ]);
    const names = (await h.jsm.consumers.list('HERALD_EVT_shop_order-created').next()).map(
      (c) => c.name,
    );
    assert.deepEqual(names, []);
    assert.ok(!(await readConfigEntries(h.kv)).has('subscription.shop.partner-orders'));
  });

  it('keeps the stream of a removed EventType with deletionPolicy Retain and deletes it with Delete', async () => {
    const operator = await h.start();
    unlinkSync(join(h.dir, 'subscription.yml'));
    h.write('producer.yaml', '');
    unlinkSync(join(h.dir, 'event-types.yaml'));
    const result = await operator.applyNow();
    assert.deepEqual(
      result.topology.kept.map((c) => c.stream),
      ['HERALD_EVT_shop_order-created'],
    );
    assert.deepEqual(
      result.topology.deleted.filter((c) => c.object === 'stream').map((c) => c.stream),
      ['HERALD_EVT_shop_order-refunded'],
    );
    assert.equal(await h.streamExists('HERALD_EVT_shop_order-created'), true);
    assert.equal(await h.streamExists('HERALD_EVT_shop_order-refunded'), false);
    assert.ok(
      h.logLines.some(
        (l) => l.msg === 'stream kept' && l.stream === 'HERALD_EVT_shop_order-created',
      ),
    );
    // Kept once: the next apply has nothing left to say about it.
    assert.ok(isReportEmpty((await operator.applyNow()).topology));
  });

  it('keeps the stream and consumers of resources that are only broken, so fixing them resumes', async () => {
    const operator = await h.start();
    h.write(
      'event-types.yaml',
      eventTypesYaml({ duplicateWindow: '1m', maxAge: '24h' }).replace(
        'type: com.example.order.refunded',
        'type: com.example.order.refunded\n  schema: { type: nothing }',
      ),
    );
    h.write(
      'subscription.yml',
      subscriptionYaml(4).replace('timeout: 5s', 'timeout: 5s\n    bogus: 1'),
    );
    const broken = await operator.applyNow();
    assert.ok(
      broken.problems.some((p) => p.reason === 'InvalidSchema' && p.name === 'order-refunded'),
    );
    assert.ok(broken.problems.some((p) => p.name === 'partner-orders'));
    assert.deepEqual(broken.topology.deleted, []);
    assert.equal(await h.streamExists('HERALD_EVT_shop_order-refunded'), true);
    assert.equal(
      (await h.consumerConfig('HERALD_EVT_shop_order-created', 'partner-orders')).max_deliver,
      5,
    );
  });

  it('deletes nothing while a file cannot be parsed: it may hold the resources that vanished', async () => {
    const operator = await h.start();
    h.write('subscription.yml', subscriptionYaml(4).replace('maxInFlight: 3', 'maxInFlight: [3'));
    unlinkSync(join(h.dir, 'event-types.yaml'));
    const result = await operator.applyNow();
    assert.ok(result.problems.some((p) => p.reason === 'InvalidYaml'));
    assert.deepEqual(result.topology.deleted, []);
    assert.deepEqual(result.topology.kept, []);
    assert.equal(await h.streamExists('HERALD_EVT_shop_order-refunded'), true);
    assert.equal(
      (await h.consumerConfig('HERALD_EVT_shop_order-created', 'partner-orders')).max_deliver,
      5,
    );
  });

  it('restores a stream and a consumer changed behind its back', async () => {
    const operator = await h.start();
    await h.jsm.streams.update('HERALD_EVT_shop_order-created', { max_age: ms(3_600_000) });
    await h.jsm.consumers.update('HERALD_EVT_shop_order-created', 'partner-orders', {
      max_ack_pending: 500,
    });
    const result = await operator.applyNow();
    assert.deepEqual(
      result.topology.updated.map((c) => [c.object, c.fields]),
      [
        ['stream', ['max_age']],
        ['consumer', ['max_ack_pending']],
      ],
    );
    assert.equal(
      (await h.jsm.streams.info('HERALD_EVT_shop_order-created')).config.max_age,
      ms(24 * 3_600_000),
    );
    assert.equal(
      (await h.consumerConfig('HERALD_EVT_shop_order-created', 'partner-orders')).max_ack_pending,
      3,
    );
  });

  it('recreates what was deleted behind its back', async () => {
    const operator = await h.start();
    await h.jsm.streams.delete('HERALD_EVT_shop_order-refunded');
    const result = await operator.applyNow();
    const created = result.topology.created.map(
      (c) => `${c.object} ${c.stream}${c.consumer ? `/${c.consumer}` : ''}`,
    );
    assert.deepEqual(created, [
      'stream HERALD_EVT_shop_order-refunded',
      'consumer HERALD_EVT_shop_order-refunded/partner-orders',
    ]);
  });
});

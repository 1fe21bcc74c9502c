import { strict as assert } from 'node:assert';
import {
  DeliverPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from '@nats-io/jetstream';
import {
  ackWaitMsFor,
  buildConsumerConfig,
  buildStreamConfig,
  parseConsumerDescription,
  parseEventTypeStreamDescription,
  startTimeOf,
  findConsumerConflicts,
  findConsumerDrift,
  findStreamConflicts,
  findStreamDrift,
  pickConsumerUpdate,
} from '../../operator/jetstream-config.js';
import { compile, eventType, subscription } from './fixtures.js';

describe('JetStream builders', () => {
  const { config } = compile([
    eventType('order-created', {
      retention: { maxAge: '24h', maxBytes: '10Mi', replicas: 1, storage: 'memory' },
      duplicateWindow: '5m',
    }),
    subscription('partner', {
      delivery: { timeout: '10s', retry: { maxAttempts: 5 }, maxInFlight: 7 },
    }),
  ]);
  const [et] = config.eventTypes;
  const [sub] = config.subscriptions;
  const ms = 1_000_000;

  it('builds the stream from the EventType', () => {
    assert.ok(et);
    const s = buildStreamConfig(et);
    assert.equal(s.name, 'HERALD_EVT_shop_order-created');
    assert.deepEqual(s.subjects, ['herald.evt.shop.order-created']);
    assert.equal(s.max_age, 24 * 3_600_000 * ms);
    assert.equal(s.max_bytes, 10 * 1024 * 1024);
    assert.equal(s.duplicate_window, 300_000 * ms);
    assert.equal(s.storage, 'memory');
    assert.equal(s.num_replicas, 1);
  });

  it('writes the deletionPolicy into the stream description, where it outlives the EventType', () => {
    assert.ok(et);
    const retained = buildStreamConfig(et);
    assert.equal(
      retained.description,
      'Herald EventType shop/order-created (com.example.order-created); herald deletionPolicy=Retain',
    );
    const deleted = buildStreamConfig({ ...et, deletionPolicy: 'Delete' });
    assert.deepEqual(parseEventTypeStreamDescription(deleted.description), {
      id: 'shop/order-created',
      deletionPolicy: 'Delete',
    });
    // Text inside the CloudEvents type cannot forge the marker: it is read at the very end.
    const forged = buildStreamConfig({ ...et, type: 'x; herald deletionPolicy=Delete' });
    assert.equal(parseEventTypeStreamDescription(forged.description)?.deletionPolicy, 'Retain');
    // Streams from before the marker, and streams that are not Herald's.
    assert.deepEqual(parseEventTypeStreamDescription('Herald EventType shop/a (t)'), {
      id: 'shop/a',
    });
    assert.equal(parseEventTypeStreamDescription('someone else'), undefined);
    assert.equal(parseEventTypeStreamDescription(undefined), undefined);
    assert.equal(
      parseConsumerDescription('Herald Subscription shop/partner on order-created'),
      'shop/partner',
    );
    assert.equal(parseConsumerDescription('a durable of someone else'), undefined);
  });

  const startCases = [
    { startFrom: 'new', policy: 'new', time: undefined },
    { startFrom: 'earliest', policy: 'all', time: undefined },
    {
      startFrom: '2024-05-01T10:00:00+02:00',
      policy: 'by_start_time',
      time: '2024-05-01T08:00:00.000Z',
    },
    // A leap second starts from the second before it (Date cannot hold :60).
    {
      startFrom: '2016-12-31T23:59:60Z',
      policy: 'by_start_time',
      time: '2016-12-31T23:59:59.000Z',
    },
  ];
  for (const c of startCases) {
    it(`maps startFrom ${c.startFrom} to deliver_policy ${c.policy}`, () => {
      assert.ok(sub && sub.consumers[0]);
      const cc = buildConsumerConfig({ ...sub, startFrom: c.startFrom }, sub.consumers[0]);
      assert.equal(cc.deliver_policy, c.policy);
      assert.equal(cc.opt_start_time, c.time);
    });
  }

  it('refuses impossible start times instead of rolling them over', () => {
    for (const bad of [
      '2024-02-30T00:00:00Z',
      '2023-02-29T00:00:00Z',
      '2024-04-31T10:00:00Z',
      '2024-01-01T24:00:00Z',
      'yesterday',
    ]) {
      assert.equal(startTimeOf(bad), undefined, bad);
    }
    assert.equal(startTimeOf('2024-02-29T00:00:00Z'), '2024-02-29T00:00:00.000Z');
  });

  it('builds the consumer from the Subscription: attempts + 1 spare, ack wait above the timeout, in-flight', () => {
    assert.ok(sub && sub.consumers[0]);
    const cc = buildConsumerConfig(sub, sub.consumers[0]);
    assert.equal(cc.durable_name, 'partner');
    assert.equal(cc.ack_policy, 'explicit');
    // maxAttempts 5: five POSTs, and one delivery that only dead-letters.
    assert.equal(cc.max_deliver, 6);
    assert.equal(cc.ack_wait, 40_000 * ms); // max(2 × 10 s, 10 s + 30 s)
    assert.equal(cc.max_ack_pending, 7);
    assert.equal(cc.filter_subject, 'herald.evt.shop.order-created');
    const slow = buildConsumerConfig(
      { ...sub, delivery: { ...sub.delivery, timeoutMs: 60_000 } },
      sub.consumers[0],
    );
    assert.equal(slow.ack_wait, 120_000 * ms); // max(2 × 60 s, 60 s + 30 s)
  });
});

describe('JetStream drift', () => {
  const { config } = compile([
    eventType('order-created'),
    subscription('partner', { startFrom: 'earliest' }),
  ]);
  const [et] = config.eventTypes;
  const [sub] = config.subscriptions;
  assert.ok(et && sub && sub.consumers[0]);
  const stream = buildStreamConfig(et);
  const consumer = buildConsumerConfig(sub, sub.consumers[0]);
  const actualStream = (over: Partial<StreamConfig>): StreamConfig =>
    ({ ...stream, ...over }) as StreamConfig;
  const actualConsumer = (over: Partial<ConsumerConfig>): ConsumerConfig =>
    ({ ...consumer, ...over }) as ConsumerConfig;

  it('sees no drift when the server holds what Herald wants', () => {
    assert.deepEqual(findStreamDrift(stream, actualStream({})), []);
    assert.deepEqual(findConsumerDrift(consumer, actualConsumer({})), []);
  });

  it('names the updatable stream fields that drifted, and the fixed ones apart', () => {
    const actual = actualStream({ max_age: 1, subjects: ['x.>'], storage: StorageType.Memory });
    assert.deepEqual(findStreamDrift(stream, actual), ['subjects', 'max_age']);
    assert.deepEqual(findStreamConflicts(stream, actual), ['storage']);
  });

  it('ignores deliver_policy and opt_start_time, which JetStream cannot update', () => {
    const actual = actualConsumer({
      deliver_policy: DeliverPolicy.New,
      max_ack_pending: 1000,
      ack_wait: 1,
    });
    assert.deepEqual(findConsumerDrift(consumer, actual), ['ack_wait', 'max_ack_pending']);
    assert.deepEqual(findConsumerConflicts(consumer, actual), []);
    assert.deepEqual(Object.keys(pickConsumerUpdate(consumer)).sort(), [
      'ack_wait',
      'description',
      'max_ack_pending',
      'max_deliver',
    ]);
  });

  it('keeps ack_wait at least 30 s and at least twice the timeout above it', () => {
    assert.equal(ackWaitMsFor(1_000), 31_000);
    assert.equal(ackWaitMsFor(30_000), 60_000);
    assert.equal(ackWaitMsFor(120_000), 240_000);
  });
});

import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import type { HeraldResource } from '../../core/resources/types.js';
import { canonicalJson, digestSchema } from '../../operator/compile.js';
import { compile, eventType, orderCreated, subscription } from './fixtures.js';

describe('compileResources defaults and schemas', () => {
  describe('defaults', () => {
    const withoutNamespace = <R extends HeraldResource>(r: R): R => {
      delete r.metadata.namespace;
      return r;
    };
    const { config, problems } = compile([
      withoutNamespace(eventType('order-created')),
      withoutNamespace(subscription('partner')),
    ]);

    it('puts resources without a namespace in "default"', () => {
      assert.deepEqual(problems, []);
      assert.equal(config.eventTypes[0]?.namespace, 'default');
      assert.equal(config.subscriptions[0]?.namespace, 'default');
    });

    it('fills an EventType from Defaults, durations in ms', () => {
      assert.deepEqual(config.eventTypes[0], {
        format: 1,
        namespace: 'default',
        name: 'order-created',
        generation: 1,
        type: 'com.example.order-created',
        schemaDigest: '',
        dataContentType: 'application/json',
        deprecated: false,
        stream: 'HERALD_EVT_default_order-created',
        subject: 'herald.evt.default.order-created',
        retention: { maxAgeMs: 168 * 3_600_000, maxBytes: -1, replicas: 1, storage: 'file' },
        duplicateWindowMs: 120_000,
        deletionPolicy: 'Retain',
      });
    });

    it('fills a Subscription from Defaults, with one consumer per EventType', () => {
      const sub = config.subscriptions[0];
      assert.deepEqual(sub?.delivery, {
        mode: 'binary',
        signingSecrets: [],
        timeoutMs: 10_000,
        retry: {
          maxAttempts: 8,
          backoff: 'exponential',
          initialDelayMs: 1_000,
          maxDelayMs: 3_600_000,
          retryAfterMaxMs: 600_000,
        },
        maxInFlight: 16,
        ordering: 'none',
        autoPauseAfterMs: 24 * 3_600_000,
      });
      assert.equal(sub?.startFrom, 'new');
      assert.equal(sub?.paused, false);
      assert.deepEqual(sub?.sink, { uri: 'https://partner.example/hook', verification: 'none' });
      assert.deepEqual(sub?.consumers, [
        {
          eventType: 'order-created',
          stream: 'HERALD_EVT_default_order-created',
          durable: 'partner',
        },
      ]);
    });

    const inFlightCases = [
      { delivery: {}, expected: 16 },
      { delivery: { maxInFlight: 4 }, expected: 4 },
      { delivery: { ordering: 'ordered' as const }, expected: 1 },
      { delivery: { ordering: 'ordered' as const, maxInFlight: 50 }, expected: 1 },
    ];
    for (const { delivery, expected } of inFlightCases) {
      it(`sets maxInFlight ${expected} for ${JSON.stringify(delivery)}`, () => {
        const out = compile([orderCreated, subscription('s', { delivery })]);
        assert.equal(out.config.subscriptions[0]?.delivery.maxInFlight, expected);
      });
    }

    it('parses spelled-out retention, and clamps a defaulted duplicate window to a short maxAge', () => {
      const out = compile([
        eventType('a', {
          retention: { maxAge: '1h30m', maxBytes: '1Gi', replicas: 3, storage: 'memory' },
          duplicateWindow: '30s',
          deletionPolicy: 'Delete',
        }),
        eventType('b', { retention: { maxAge: '1m' } }),
      ]);
      assert.deepEqual(out.problems, []);
      const [a, b] = out.config.eventTypes;
      assert.deepEqual(a?.retention, {
        maxAgeMs: 5_400_000,
        maxBytes: 1024 ** 3,
        replicas: 3,
        storage: 'memory',
      });
      assert.equal(a?.duplicateWindowMs, 30_000);
      assert.equal(a?.deletionPolicy, 'Delete');
      assert.equal(b?.duplicateWindowMs, 60_000);
    });
  });

  describe('schemas', () => {
    it('digests the canonical schema: key order does not matter', () => {
      const s1 = { type: 'object', properties: { a: { type: 'string', minLength: 1 } } };
      const s2 = { properties: { a: { minLength: 1, type: 'string' } }, type: 'object' };
      const out = compile([eventType('one', { schema: s1 }), eventType('two', { schema: s2 })]);
      const [one, two] = out.config.eventTypes;
      const expected = createHash('sha256').update(canonicalJson(s1)).digest('hex');
      assert.equal(one?.schemaDigest, expected);
      assert.equal(two?.schemaDigest, expected);
      assert.equal(digestSchema(s2), expected);
      assert.equal(
        canonicalJson(s2),
        '{"properties":{"a":{"minLength":1,"type":"string"}},"type":"object"}',
      );
    });

    it('accepts formats and annotations ajv does not know, as the broker does', () => {
      const schema = {
        $id: 'https://x.example/s',
        type: 'string',
        format: 'date-time',
        'x-owner': 'team-a',
        examples: ['x'],
      };
      assert.deepEqual(compile([eventType('t', { schema })]).problems, []);
    });
  });
});

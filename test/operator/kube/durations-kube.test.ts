/**
 * Duration ranges in Kubernetes mode: the API server refuses a zero where 0s means nothing
 * (the CRD's CEL rule), and what only the operator can measure turns Ready False on the
 * resource, naming the field, with nothing created for it.
 */
import assert from 'node:assert/strict';
import { Kind } from '../../../core/resources/types.js';
import { configKeyFor, ConfigKeyPrefix } from '../../../core/topology.js';
import {
  conditionOf,
  NS,
  orderCreatedSpec,
  resourceApi,
  startCluster,
  waitForReady,
  type Cluster,
} from './harness.js';

describe('operator in Kubernetes mode: duration ranges', function () {
  this.timeout(60_000);
  let c: Cluster;
  before(async () => {
    c = await startCluster();
    await c.startOperator({ resyncMs: 1_000 });
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('order-created', orderCreatedSpec());
    await waitForReady(ets.get, 'order-created');
  });
  after(async () => c?.stop());

  const sink = { uri: 'https://partner.example/hooks' };

  it('gets a 422 naming spec.delivery.timeout for a 0s timeout', async () => {
    const subs = resourceApi(c, Kind.Subscription);
    await assert.rejects(
      subs.create('zero', { eventTypes: ['order-created'], sink, delivery: { timeout: '0s' } }),
      (err: { code?: number; body?: string }) => {
        assert.equal(err.code, 422);
        const status = JSON.parse(err.body ?? '{}') as {
          details?: { causes?: { field?: string; message?: string }[] };
        };
        assert.deepEqual(status.details?.causes, [
          {
            reason: 'FieldValueInvalid',
            field: 'spec.delivery.timeout',
            message: 'Invalid value: "string": must be more than 0, e.g. "10s"',
          },
        ]);
        return true;
      },
    );
    assert.equal(await subs.get('zero'), undefined);
  });

  it('reports a timeout over 1h as Ready=False naming the field, and compiles it once fixed', async () => {
    const subs = resourceApi(c, Kind.Subscription);
    await subs.create('slow', { eventTypes: ['order-created'], sink, delivery: { timeout: '2h' } });
    const refused = await waitForReady(subs.get, 'slow', 'False');
    const ready = conditionOf(refused, 'Ready');
    assert.equal(ready?.reason, 'InvalidValue');
    assert.equal(ready?.message, 'spec.delivery.timeout: must be from 1ms to 1h, not "2h"');
    const key = configKeyFor(ConfigKeyPrefix.Subscription, NS, 'slow');
    const entry = await c.kv.get(key);
    assert.ok(!entry || entry.operation !== 'PUT', 'kept out of the config');

    await subs.replaceSpec('slow', {
      eventTypes: ['order-created'],
      sink,
      delivery: { timeout: '1h' },
    });
    await waitForReady(subs.get, 'slow');
    const fixed = await c.kv.get(key);
    assert.equal(fixed?.json<{ delivery: { timeoutMs: number } }>().delivery.timeoutMs, 3_600_000);
  });
});

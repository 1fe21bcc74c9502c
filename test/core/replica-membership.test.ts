/**
 * Replica membership on a real nats-server: replicas of one role find each other, a replica
 * that stops or dies is noticed, and a bucket that cannot be used means "alone" (count 1).
 */
import { strict as assert } from 'node:assert';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { Registry } from 'prom-client';
import { createLogger } from '../../core/logging.js';
import {
  REPLICAS_BUCKET,
  registerReplicaGauge,
  ReplicaMembership,
  ReplicaRole,
} from '../../core/replica-membership.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { countReaches } from '../support/replica-membership.js';

describe('replica membership', function () {
  let nats: TestNatsServer;
  const started: ReplicaMembership[] = [];
  const logLines: string[] = [];
  const logger = createLogger('membership-test', {
    destination: {
      write(chunk: string) {
        logLines.push(chunk);
        return true;
      },
    } as unknown as NodeJS.WritableStream,
  });

  beforeEach(async () => {
    nats = await startTestNatsServer();
    logLines.length = 0;
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((m) => m.stop()));
    await nats.stop();
  });

  async function join(
    role: ReplicaRole,
    nc?: NatsConnection,
    ttlMs?: number,
  ): Promise<ReplicaMembership> {
    const m = new ReplicaMembership({
      js: jetstream(nc ?? (await nats.connect())),
      role,
      logger,
      ...(ttlMs !== undefined && { ttlMs }),
    });
    started.push(m);
    await m.start();
    return m;
  }

  it('counts the live replicas of its role, and gives a stopped one’s share back', async () => {
    const a = await join(ReplicaRole.Broker);
    assert.equal(a.count, 1, 'alone');
    const b = await join(ReplicaRole.Broker);
    const other = await join(ReplicaRole.Dispatcher);
    assert.equal(b.count, 2, 'b saw a when it counted');
    await countReaches(a, 2); // a hears of b through the watch
    assert.equal(other.count, 1, 'dispatchers do not count brokers');

    const registry = new Registry();
    registerReplicaGauge(registry, a);
    assert.match(await registry.metrics(), /^herald_broker_rate_limit_replicas 2$/m);

    await b.stop();
    await countReaches(a, 1);
    assert.match(await registry.metrics(), /^herald_broker_rate_limit_replicas 1$/m);
  });

  it('notices a replica that died without leaving once its announcement ages out', async () => {
    const a = await join(ReplicaRole.Dispatcher, undefined, 1_000);
    const doomed = await nats.connect();
    await join(ReplicaRole.Dispatcher, doomed, 1_000);
    await countReaches(a, 2);
    await doomed.close(); // no delete: the key stays until the bucket's max_age drops it
    await countReaches(a, 1);
  });

  it('counts 1 while the bucket cannot be used, warns once, and shares again after', async () => {
    // A stream under the bucket's name that holds none of its subjects: announcements fail.
    const jsm = await jetstreamManager(await nats.connect());
    await jsm.streams.add({ name: `KV_${REPLICAS_BUCKET}`, subjects: ['not-the-bucket.>'] });
    const a = await join(ReplicaRole.Broker);
    const b = await join(ReplicaRole.Broker);
    await Promise.all([a.refresh(), b.refresh(), a.refresh()]);
    assert.equal(a.count, 1);
    assert.equal(b.count, 1);
    const warnings = logLines.filter((l) => l.includes('cannot read the replica membership'));
    assert.equal(warnings.length, 2, 'one warning per replica, not one per try');

    await jsm.streams.delete(`KV_${REPLICAS_BUCKET}`);
    await a.refresh(); // recreates the bucket
    await b.refresh();
    assert.equal(b.count, 2);
    await countReaches(a, 2);
    assert.equal(logLines.filter((l) => l.includes('readable again')).length, 2);
  });
});

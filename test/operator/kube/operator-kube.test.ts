import assert from 'node:assert/strict';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { jetstream } from '@nats-io/jetstream';
import { createDeliveryState, openDeliveryStateBucket } from '../../../core/delivery-state.js';
import { Kind } from '../../../core/resources/types.js';
import {
  configKeyFor,
  ConfigKeyPrefix,
  deliveryStateKeyFor,
  streamNameFor,
} from '../../../core/topology.js';
import { FINALIZER } from '../../../operator/kube/kube-api.js';
import { startKubeApiServer } from '../../support/kube-apiserver/server.js';
import type { RunningKubeOperator } from '../../../operator/kube/kube-operator.js';
import {
  conditionOf,
  eventually,
  NS,
  jwtProducerSpec,
  orderCreatedSpec,
  resourceApi,
  startCluster,
  waitForReady,
  type Cluster,
} from './harness.js';

const streamExists = async (c: Cluster, name: string): Promise<boolean> => {
  try {
    await c.jsm.streams.info(name);
    return true;
  } catch {
    return false;
  }
};

const consumerExists = async (c: Cluster, stream: string, durable: string): Promise<boolean> => {
  try {
    await c.jsm.consumers.info(stream, durable);
    return true;
  } catch {
    return false;
  }
};

/** The live (PUT) config entry's value, or undefined when absent or deleted. */
const liveEntry = async (c: Cluster, key: string) => {
  const e = await c.kv.get(key);
  return e && e.operation === 'PUT' ? e : undefined;
};

describe('operator in Kubernetes mode (fake API server, real client-node, real NATS)', function () {
  this.timeout(60_000);
  let c: Cluster;
  let op: RunningKubeOperator;
  before(async () => {
    c = await startCluster();
    op = await c.startOperator({ resyncMs: 1_000 });
  });
  after(async () => c?.stop());

  it('adds its finalizer, creates the stream and config entry, and reports Ready at the generation', async () => {
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('order-created', orderCreatedSpec());
    const et = await waitForReady(ets.get, 'order-created');
    assert.ok(et.metadata.finalizers?.includes(FINALIZER));
    assert.equal(et.status?.observedGeneration, 1);
    assert.equal(et.status?.stream, streamNameFor(NS, 'order-created'));
    assert.equal(conditionOf(et, 'SchemaValid')?.status, 'True');
    assert.equal(conditionOf(et, 'StreamReady')?.status, 'True');
    assert.ok(await streamExists(c, streamNameFor(NS, 'order-created')));
    const entry = await c.kv.get(configKeyFor(ConfigKeyPrefix.EventType, NS, 'order-created'));
    assert.equal(entry?.json<{ type: string }>().type, 'com.example.order.created');
  });

  it('applies a spec change and reports the new observedGeneration', async () => {
    const ets = resourceApi(c, Kind.EventType);
    await ets.replaceSpec('order-created', orderCreatedSpec({ retention: { maxAge: '48h' } }));
    const et = await waitForReady(ets.get, 'order-created');
    assert.equal(et.metadata.generation, 2);
    assert.equal(et.status?.observedGeneration, 2);
    const info = await c.jsm.streams.info(streamNameFor(NS, 'order-created'));
    assert.equal(info.config.max_age, 48 * 3600 * 1e9);
  });

  it('reports an invalid schema as SchemaValid=False and keeps it out of the config', async () => {
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('broken', { type: 'com.example.broken', schema: { type: 'objekt' } });
    const et = await waitForReady(ets.get, 'broken', 'False');
    assert.equal(conditionOf(et, 'SchemaValid')?.status, 'False');
    assert.equal(conditionOf(et, 'Ready')?.reason, 'InvalidSchema');
    assert.equal(
      await liveEntry(c, configKeyFor(ConfigKeyPrefix.EventType, NS, 'broken')),
      undefined,
    );
  });

  it('names a missing Secret in the Producer status and turns Ready once it exists', async () => {
    const producers = resourceApi(c, Kind.Producer);
    await producers.create('acme', {
      eventTypes: ['order-created'],
      sources: ['https://acme.example/*'],
      auth: { apiKeys: [{ secretRef: { name: 'acme-credentials', key: 'api-key' } }] },
    });
    const p = await waitForReady(producers.get, 'acme', 'False');
    assert.equal(conditionOf(p, 'CredentialsReady')?.reason, 'SecretNotFound');
    assert.match(conditionOf(p, 'Ready')?.message ?? '', /acme-credentials/);
    await c.core.createNamespacedSecret({
      namespace: NS,
      body: {
        metadata: { name: 'acme-credentials', namespace: NS },
        stringData: { 'api-key': 'acme-kube-key-0123456789' },
      },
    });
    await waitForReady(producers.get, 'acme');
    const entry = await c.kv.get(configKeyFor(ConfigKeyPrefix.Producer, NS, 'acme'));
    assert.equal(entry?.json<{ apiKeyHashes: string[] }>().apiKeyHashes.length, 1);
  });

  it('rotates an API key without a restart: the config holds the new key’s hash', async () => {
    const key = configKeyFor(ConfigKeyPrefix.Producer, NS, 'acme');
    const before = (await c.kv.get(key))!.json<{ apiKeyHashes: string[] }>().apiKeyHashes;
    await c.core.replaceNamespacedSecret({
      name: 'acme-credentials',
      namespace: NS,
      body: {
        metadata: { name: 'acme-credentials', namespace: NS },
        stringData: { 'api-key': 'acme-rotated-key-9876543210' },
      },
    });
    await eventually('the new hash in KV', async () => {
      const after = (await c.kv.get(key))!.json<{ apiKeyHashes: string[] }>().apiKeyHashes;
      return after[0] !== before[0] && after.length === 1;
    });
  });

  it('creates a Subscription’s consumers and lists them in status', async () => {
    const subs = resourceApi(c, Kind.Subscription);
    await subs.create('partner', {
      eventTypes: ['order-created'],
      sink: { uri: 'https://partner.example/hooks' },
    });
    const s = await waitForReady(subs.get, 'partner');
    assert.deepEqual(s.status?.consumers, [
      {
        eventType: 'order-created',
        stream: streamNameFor(NS, 'order-created'),
        durable: 'partner',
      },
    ]);
    assert.equal(conditionOf(s, 'SinkVerified')?.reason, 'NotRequired');
    assert.ok(await consumerExists(c, streamNameFor(NS, 'order-created'), 'partner'));
  });

  it('moves a Subscription’s consumer when its eventTypes change', async () => {
    const ets = resourceApi(c, Kind.EventType);
    const subs = resourceApi(c, Kind.Subscription);
    await ets.create('order-shipped', orderCreatedSpec({ type: 'com.example.order.shipped' }));
    await waitForReady(ets.get, 'order-shipped');
    await subs.create('mover', {
      eventTypes: ['order-created'],
      sink: { uri: 'https://m.example/' },
    });
    await waitForReady(subs.get, 'mover');
    await subs.replaceSpec('mover', {
      eventTypes: ['order-shipped'],
      sink: { uri: 'https://m.example/' },
    });
    const s = await waitForReady(subs.get, 'mover');
    assert.equal(s.status?.observedGeneration, 2);
    assert.ok(await consumerExists(c, streamNameFor(NS, 'order-shipped'), 'mover'));
    assert.equal(await consumerExists(c, streamNameFor(NS, 'order-created'), 'mover'), false);
    await subs.delete('mover');
    await eventually('mover gone', async () => (await subs.get('mover')) === undefined);
    assert.equal(await consumerExists(c, streamNameFor(NS, 'order-shipped'), 'mover'), false);
  });

  it('removes a deleted Producer from the config', async () => {
    const producers = resourceApi(c, Kind.Producer);
    await producers.create('gone-soon', jwtProducerSpec());
    await waitForReady(producers.get, 'gone-soon');
    const key = configKeyFor(ConfigKeyPrefix.Producer, NS, 'gone-soon');
    assert.ok(await liveEntry(c, key));
    await producers.delete('gone-soon');
    await eventually('entry deleted', async () => (await liveEntry(c, key)) === undefined);
    await eventually('producer gone', async () => (await producers.get('gone-soon')) === undefined);
  });

  it('shows the delivery health dispatchers record in status.delivery', async () => {
    const subs = resourceApi(c, Kind.Subscription);
    await subs.create('watched', {
      eventTypes: ['order-created'],
      sink: { uri: 'https://w.example/' },
    });
    await waitForReady(subs.get, 'watched');
    const kv = await openDeliveryStateBucket(jetstream(await c.nats.connect()));
    const state = {
      ...createDeliveryState(NS, 'watched', 1, Date.parse('2026-12-05T10:00:00Z')),
      lastFailureTime: '2026-12-05T10:00:00.000Z',
      lastStatus: 410,
      consecutiveFailures: 3,
      pausedReason: 'sink answered HTTP 410 (Gone)',
      pausedAt: '2026-12-05T10:00:00.000Z',
      pausedGeneration: 1,
    };
    await kv.put(deliveryStateKeyFor(NS, 'watched'), JSON.stringify(state));
    const s = await eventually('status.delivery', async () => {
      const obj = await subs.get('watched');
      return obj?.status?.delivery ? obj : undefined;
    });
    assert.deepEqual(s.status?.delivery, {
      lastFailureTime: '2026-12-05T10:00:00.000Z',
      lastStatus: 410,
      consecutiveFailures: 3,
      pausedReason: 'sink answered HTTP 410 (Gone)',
    });
    // An edit of the spec lifts a pause: status stops showing it at the new generation.
    await subs.replaceSpec('watched', {
      eventTypes: ['order-created'],
      sink: { uri: 'https://w2.example/' },
    });
    const edited = await waitForReady(subs.get, 'watched');
    assert.equal(edited.status?.observedGeneration, 2);
    assert.equal((edited.status?.delivery as { pausedReason?: string }).pausedReason, undefined);
  });

  it('shows a sink that refused the handshake as SinkVerified=False, and True once it consents', async () => {
    const subs = resourceApi(c, Kind.Subscription);
    await subs.create('consenting', {
      eventTypes: ['order-created'],
      sink: { uri: 'https://c.example/', verification: 'handshake' },
    });
    const kv = await openDeliveryStateBucket(jetstream(await c.nats.connect()));
    // What a dispatcher records after the sink's answer (dispatcher/main.ts recordVerification).
    const record = (status: string, reason: string, message: string) =>
      kv.put(
        deliveryStateKeyFor(NS, 'consenting'),
        JSON.stringify({
          ...createDeliveryState(NS, 'consenting', 1, Date.parse('2026-12-05T10:00:00Z')),
          sinkVerification: { status, reason, message, since: '2026-12-05T10:00:00.000Z' },
        }),
      );
    await record(
      'refused',
      'NoConsent',
      'https://c.example answered HTTP 200 without WebHook-Allowed-Origin',
    );
    const refused = await eventually('SinkVerified=False', async () => {
      const obj = await subs.get('consenting');
      return conditionOf(obj, 'SinkVerified')?.status === 'False' ? obj : undefined;
    });
    assert.equal(conditionOf(refused, 'SinkVerified')?.reason, 'NoConsent');
    assert.match(String(conditionOf(refused, 'SinkVerified')?.message), /WebHook-Allowed-Origin/);
    assert.equal(conditionOf(refused, 'Ready')?.status, 'False');
    await record('verified', 'Verified', 'https://c.example consented');
    const ready = await waitForReady(subs.get, 'consenting');
    assert.equal(conditionOf(ready, 'SinkVerified')?.reason, 'Verified');
  });

  it('restores a stream and a consumer deleted behind its back within one resync', async () => {
    const stream = streamNameFor(NS, 'order-created');
    await c.jsm.streams.delete(stream);
    await eventually(
      'stream and consumer restored',
      async () => (await streamExists(c, stream)) && (await consumerExists(c, stream, 'partner')),
    );
  });

  it('deletes a Subscription’s consumers before letting it go', async () => {
    const subs = resourceApi(c, Kind.Subscription);
    await subs.delete('partner');
    await eventually('subscription gone', async () => (await subs.get('partner')) === undefined);
    assert.equal(await consumerExists(c, streamNameFor(NS, 'order-created'), 'partner'), false);
    assert.equal(
      await liveEntry(c, configKeyFor(ConfigKeyPrefix.Subscription, NS, 'partner')),
      undefined,
    );
  });

  it('keeps the stream of a deleted EventType under Retain, and says so in an Event', async () => {
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('kept', { type: 'com.example.kept', retention: { maxAge: '1h' } });
    await waitForReady(ets.get, 'kept');
    await ets.delete('kept');
    await eventually('EventType gone', async () => (await ets.get('kept')) === undefined);
    assert.ok(await streamExists(c, streamNameFor(NS, 'kept')));
    const events = await c.core.listNamespacedEvent({ namespace: NS });
    assert.ok(
      events.items.some((e) => e.involvedObject.name === 'kept' && e.reason === 'StreamRetained'),
    );
  });

  it('deletes the stream of a deleted EventType under deletionPolicy Delete', async () => {
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('temp', { type: 'com.example.temp', deletionPolicy: 'Delete' });
    await waitForReady(ets.get, 'temp');
    assert.ok(await streamExists(c, streamNameFor(NS, 'temp')));
    await ets.delete('temp');
    await eventually('EventType gone', async () => (await ets.get('temp')) === undefined);
    assert.equal(await streamExists(c, streamNameFor(NS, 'temp')), false);
  });

  it('writes status only when it changed', async () => {
    const patchesBefore = c.requests.filter((r) => /PATCH .*\/status/.test(r)).length;
    // Several resyncs (1 s apart) pass over unchanged, Ready objects.
    await eventually('two resyncs', () => (op.registry ? true : false));
    const resyncs = async () =>
      (await op.registry.getSingleMetricAsString('herald_operator_reconciles_total'))
        .split('\n')
        .filter((l) => l.startsWith('herald_operator_reconciles_total'))
        .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
    const start = await resyncs();
    await eventually('more reconciles', async () => (await resyncs()) > start + 6);
    const patchesAfter = c.requests.filter((r) => /PATCH .*\/status/.test(r)).length;
    assert.equal(patchesAfter, patchesBefore);
  });
});

describe('operator in Kubernetes mode: outages, conflicts, leadership', function () {
  this.timeout(90_000);
  let c: Cluster;
  beforeEach(async () => {
    c = await startCluster();
  });
  afterEach(async () => c?.stop());

  it('says NATS is unreachable in the conditions, and recovers when it returns', async () => {
    await c.startOperator({ requestTimeoutMs: 1_000 });
    const ets = resourceApi(c, Kind.EventType);
    const producers = resourceApi(c, Kind.Producer);
    await ets.create('order-created', orderCreatedSpec());
    await waitForReady(ets.get, 'order-created');
    await c.nats.restart({
      whileDown: async () => {
        await ets.replaceSpec('order-created', orderCreatedSpec({ retention: { maxAge: '72h' } }));
        const et = await waitForReady(ets.get, 'order-created', 'Unknown');
        assert.equal(conditionOf(et, 'StreamReady')?.reason, 'NatsUnavailable');
        await producers.create('outage-producer', jwtProducerSpec());
        const p = await waitForReady(producers.get, 'outage-producer', 'Unknown');
        assert.equal(conditionOf(p, 'ConfigReady')?.reason, 'NatsUnavailable');
      },
    });
    await waitForReady(producers.get, 'outage-producer', 'True', 30_000);
    const et = await waitForReady(ets.get, 'order-created', 'True', 30_000);
    assert.equal(et.status?.observedGeneration, 2);
    const nc = await c.nats.connect();
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const info = await (
      await jetstreamManager(nc)
    ).streams.info(streamNameFor(NS, 'order-created'));
    assert.equal(info.config.max_age, 72 * 3600 * 1e9);
  });

  it('restarts its watches with backoff when the API server goes away, and picks up what changed', async () => {
    await c.startOperator();
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('order-created', orderCreatedSpec());
    await waitForReady(ets.get, 'order-created');
    const port = c.api.port;
    await c.api.close();
    await eventually('the operator noticed', () =>
      c.logs.some((l) => l.msg === 'watching failed; restarting'),
    );
    // A new (empty) API server on the same address: the informers relist from it.
    const api2 = await startKubeApiServer({ port, namespaces: [NS] });
    try {
      const kc2 = new KubeConfig();
      kc2.loadFromFile(api2.kubeconfigPath);
      const c2 = { ...c, custom: kc2.makeApiClient(CustomObjectsApi) };
      const ets2 = resourceApi(c2, Kind.EventType);
      await ets2.create('order-shipped', orderCreatedSpec({ type: 'com.example.order.shipped' }));
      await waitForReady(ets2.get, 'order-shipped', 'True', 60_000);
      // order-created is gone from this server: its config entry goes too (its stream is kept).
      await eventually(
        'stale config entry removed',
        async () =>
          (await liveEntry(c, configKeyFor(ConfigKeyPrefix.EventType, NS, 'order-created'))) ===
          undefined,
      );
    } finally {
      await api2.close();
    }
  });

  it('retries a write refused with 409 Conflict until it lands', async () => {
    await c.startOperator();
    const ets = resourceApi(c, Kind.EventType);
    // Label edits race the operator's finalizer patch, which carries the resourceVersion it
    // saw; new objects until one such race has been lost by the operator at least once.
    const conflicted = () => c.requests.some((r) => /PATCH \S*eventtypes\/busy-\d+\S* 409/.test(r));
    const names: string[] = [];
    for (let n = 0; n < 50 && !conflicted(); n++) {
      const name = `busy-${n}`;
      names.push(name);
      await ets.create(name, orderCreatedSpec({ type: `com.example.busy${n}` }));
      for (let i = 0; i < 10 && !conflicted(); i++) {
        const cur = await ets.get(name);
        await c.custom
          .replaceNamespacedCustomObject({
            group: 'herald.dev',
            version: 'v1alpha1',
            namespace: NS,
            plural: 'eventtypes',
            name,
            body: { ...cur, metadata: { ...cur!.metadata, labels: { touch: String(i) } } },
          })
          .catch(() => undefined);
      }
    }
    assert.ok(conflicted(), 'the operator met a 409 Conflict');
    for (const name of names) {
      const et = await waitForReady(ets.get, name);
      assert.ok(et.metadata.finalizers?.includes(FINALIZER), name);
    }
  });

  it('lets only the Lease holder reconcile, and hands over when it stops', async () => {
    const election = (identity: string) => ({
      leaderElection: {
        namespace: NS,
        identity,
        leaseDurationMs: 2_000,
        renewDeadlineMs: 1_500,
        retryPeriodMs: 200,
      },
    });
    const a = await c.startOperator(election('operator-a'));
    await eventually('a leader', () => a.isLeader);
    const b = await c.startOperator(election('operator-b'));
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('order-created', orderCreatedSpec());
    await waitForReady(ets.get, 'order-created');
    assert.equal(b.isLeader, false);
    const lease = await c.coordination.readNamespacedLease({
      name: 'herald-operator',
      namespace: NS,
    });
    assert.equal(lease.spec?.holderIdentity, 'operator-a');
    await a.stop();
    await eventually('b leads', () => b.isLeader, 10_000);
    await ets.create('order-shipped', orderCreatedSpec({ type: 'com.example.order.shipped' }));
    await waitForReady(ets.get, 'order-shipped');
  });
});

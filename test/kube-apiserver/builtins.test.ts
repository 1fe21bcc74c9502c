/**
 * The built-in kinds an operator uses, through client-node: Secrets (stringData, base64),
 * Leases (leader election), Events in both API groups, and list selectors and paging.
 */
import assert from 'node:assert/strict';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { GROUP, VERSION, expectStatus, startFakeCluster, type FakeCluster } from './fixture.js';

describe('kube-apiserver fake: Secrets, Leases, Events and lists', () => {
  let cluster: FakeCluster;
  const ns = 'shop';

  before(async () => {
    cluster = await startFakeCluster();
    await cluster.createNamespace(ns);
  });
  after(() => cluster.close());

  it('filters lists by label and field selectors, and pages them with limit and continue', async () => {
    await cluster.createNamespace('paged');
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      await cluster.core.createNamespacedSecret({
        namespace: 'paged',
        body: {
          metadata: { name, labels: { tier: name < 'c' ? 'gold' : 'bronze' } },
          stringData: { k: name },
        },
      });
    }
    const gold = await cluster.core.listNamespacedSecret({
      namespace: 'paged',
      labelSelector: 'tier=gold',
    });
    assert.deepEqual(
      gold.items.map((s) => s.metadata?.name),
      ['a', 'b'],
    );
    const notGold = await cluster.core.listNamespacedSecret({
      namespace: 'paged',
      labelSelector: 'tier notin (gold)',
    });
    assert.deepEqual(
      notGold.items.map((s) => s.metadata?.name),
      ['c', 'd', 'e'],
    );
    const byName = await cluster.core.listSecretForAllNamespaces({
      fieldSelector: 'metadata.name=d',
    });
    assert.deepEqual(
      byName.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`),
      ['paged/d'],
    );
    const unsupported = await expectStatus(
      cluster.core.listNamespacedSecret({ namespace: 'paged', fieldSelector: 'data.k=x' }),
      400,
    );
    assert.match(unsupported.message ?? '', /field label not supported: data.k/);

    const first = await cluster.core.listNamespacedSecret({ namespace: 'paged', limit: 2 });
    assert.deepEqual(
      first.items.map((s) => s.metadata?.name),
      ['a', 'b'],
    );
    assert.equal(first.metadata?.remainingItemCount, 3);
    const second = await cluster.core.listNamespacedSecret({
      namespace: 'paged',
      limit: 2,
      _continue: first.metadata?._continue,
    });
    assert.deepEqual(
      second.items.map((s) => s.metadata?.name),
      ['c', 'd'],
    );
    assert.equal(second.metadata?.resourceVersion, first.metadata?.resourceVersion);
    const last = await cluster.core.listNamespacedSecret({
      namespace: 'paged',
      limit: 2,
      _continue: second.metadata?._continue,
    });
    assert.deepEqual(
      last.items.map((s) => s.metadata?.name),
      ['e'],
    );
    assert.equal(last.metadata?._continue, undefined);
  });

  it('stores Secrets base64 in data, folding stringData in', async () => {
    const created = await cluster.core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: 'partner-out' },
        data: { existing: Buffer.from('one').toString('base64') },
        stringData: { 'api-key': 'plain text key' },
      },
    });
    assert.equal(created.type, 'Opaque');
    assert.equal(created.stringData, undefined);
    assert.deepEqual(created.data, {
      existing: Buffer.from('one').toString('base64'),
      'api-key': Buffer.from('plain text key').toString('base64'),
    });
    const rotated = await cluster.core.patchNamespacedSecret(
      { name: 'partner-out', namespace: ns, body: { stringData: { 'api-key': 'rotated' } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    assert.equal(Buffer.from(rotated.data?.['api-key'] ?? '', 'base64').toString(), 'rotated');
    assert.ok(
      Number(rotated.metadata?.resourceVersion) > Number(created.metadata?.resourceVersion),
    );

    const bad = await expectStatus(
      cluster.core.createNamespacedSecret({
        namespace: ns,
        body: { metadata: { name: 'bad-key' }, stringData: { 'not/allowed': 'x' } },
      }),
      422,
    );
    assert.deepEqual(
      bad.details?.causes?.map((c) => c.field),
      ['data[not/allowed]'],
    );
    const deleted = await cluster.core.deleteNamespacedSecret({
      name: 'partner-out',
      namespace: ns,
    });
    assert.equal(deleted.status, 'Success');
    await expectStatus(
      cluster.core.readNamespacedSecret({ name: 'partner-out', namespace: ns }),
      404,
    );
  });

  it('serves Leases for leader election, with 409 on a stale renewal', async () => {
    const now = new Date();
    const lease = await cluster.coordination.createNamespacedLease({
      namespace: ns,
      body: {
        metadata: { name: 'herald-operator' },
        spec: {
          holderIdentity: 'pod-a',
          leaseDurationSeconds: 15,
          acquireTime: now,
          renewTime: now,
        },
      },
    });
    assert.equal(lease.spec?.holderIdentity, 'pod-a');
    const renewed = await cluster.coordination.replaceNamespacedLease({
      name: 'herald-operator',
      namespace: ns,
      body: { ...lease, spec: { ...lease.spec, renewTime: new Date(now.getTime() + 5000) } },
    });
    // MicroTime comes back with six fractional digits (client-node leaves it a string).
    const renewTime = String(renewed.spec?.renewTime);
    assert.match(renewTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(new Date(renewTime).getTime(), now.getTime() + 5000);
    const takeover = await expectStatus(
      cluster.coordination.replaceNamespacedLease({
        name: 'herald-operator',
        namespace: ns,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: 'pod-b' } },
      }),
      409,
    );
    assert.equal(takeover.reason, 'Conflict');
    const invalidLease = await expectStatus(
      cluster.coordination.createNamespacedLease({
        namespace: ns,
        body: { metadata: { name: 'broken' }, spec: { leaseDurationSeconds: 0 } },
      }),
      422,
    );
    assert.deepEqual(
      invalidLease.details?.causes?.map((c) => c.field),
      ['spec.leaseDurationSeconds'],
    );
  });

  it('shows Events written through events.k8s.io/v1 in core/v1 as well', async () => {
    await cluster.events.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: 'demo-sink.1' },
        eventTime: new Date(),
        type: 'Warning',
        reason: 'SecretMissing',
        action: 'Reconcile',
        note: 'Secret partner-signing not found',
        reportingController: 'herald.dev/operator',
        reportingInstance: 'operator-0',
        regarding: {
          kind: 'Subscription',
          namespace: ns,
          name: 'demo-sink',
          apiVersion: `${GROUP}/${VERSION}`,
        },
      },
    });
    const core = await cluster.core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: 'involvedObject.name=demo-sink',
    });
    assert.equal(core.items.length, 1);
    assert.equal(core.items[0]?.message, 'Secret partner-signing not found');
    assert.equal(core.items[0]?.involvedObject.kind, 'Subscription');
    assert.equal(core.items[0]?.reportingComponent, 'herald.dev/operator');

    await cluster.core.createNamespacedEvent({
      namespace: ns,
      body: {
        metadata: { name: 'demo-sink.2' },
        involvedObject: { kind: 'Subscription', namespace: ns, name: 'demo-sink' },
        reason: 'Ready',
        message: 'consumer ready',
        type: 'Normal',
      },
    });
    const v1 = await cluster.events.listNamespacedEvent({ namespace: ns });
    assert.deepEqual(v1.items.map((e) => e.note).sort(), [
      'Secret partner-signing not found',
      'consumer ready',
    ]);

    const incomplete = await expectStatus(
      cluster.events.createNamespacedEvent({
        namespace: ns,
        body: {
          metadata: { name: 'incomplete' },
          eventTime: new Date(),
          type: 'Normal',
          reason: 'X',
        },
      }),
      422,
    );
    assert.deepEqual(incomplete.details?.causes?.map((c) => c.field).sort(), [
      'action',
      'reportingController',
      'reportingInstance',
    ]);
  });
});

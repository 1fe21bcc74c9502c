/**
 * The fake API server's object conventions, seen through the real client-node: CRUD of each
 * Herald kind, resourceVersion and generation, the status subresource, 409s and 404s, and the
 * patch types.
 */
import assert from 'node:assert/strict';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  GROUP,
  VERSION,
  expectStatus,
  readManifests,
  startFakeCluster,
  type CustomObject,
  type FakeCluster,
} from './fixture.js';

const PLURALS: Record<string, string> = {
  EventType: 'eventtypes',
  Producer: 'producers',
  Subscription: 'subscriptions',
};

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const jsonPatch = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);

describe('kube-apiserver fake: objects through client-node', () => {
  let cluster: FakeCluster;
  const ns = 'shop';

  before(async () => {
    cluster = await startFakeCluster();
    await cluster.createNamespace(ns);
  });
  after(() => cluster.close());

  function ref(plural: string, name: string) {
    return { group: GROUP, version: VERSION, namespace: ns, plural, name };
  }

  async function createSubscription(name: string, spec: Record<string, unknown> = {}) {
    return (await cluster.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'subscriptions',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'Subscription',
        metadata: { name },
        spec: {
          eventTypes: ['order-created'],
          sink: { uri: 'https://partner.example/hook' },
          ...spec,
        },
      },
    })) as CustomObject;
  }

  it('creates, reads, lists, replaces and deletes every Herald kind from examples/', async () => {
    const herald = readManifests('examples').filter(
      (doc) => doc.apiVersion === `${GROUP}/${VERSION}`,
    );
    assert.deepEqual([...new Set(herald.map((d) => d.kind))].sort(), [
      'EventType',
      'Producer',
      'Subscription',
    ]);
    let lastVersion = 0;
    for (const doc of herald) {
      const plural = PLURALS[doc.kind] ?? '';
      const name = doc.metadata.name;
      const created = (await cluster.custom.createNamespacedCustomObject({
        ...ref(plural, name),
        body: doc,
      })) as CustomObject;
      assert.match(created.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
      assert.equal(created.metadata.generation, 1);
      assert.match(String(created.metadata.creationTimestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const version = Number(created.metadata.resourceVersion);
      assert.ok(version > lastVersion, 'resourceVersion grows with every write');
      lastVersion = version;
      assert.deepEqual(created.spec, doc.spec);

      const read = (await cluster.custom.getNamespacedCustomObject(
        ref(plural, name),
      )) as CustomObject;
      assert.deepEqual(read, created);

      const inNamespace = (await cluster.custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural,
      })) as { kind: string; items: CustomObject[]; metadata: { resourceVersion: string } };
      assert.equal(inNamespace.kind, `${doc.kind}List`);
      assert.ok(inNamespace.items.some((o) => o.metadata.name === name));
      assert.ok(Number(inNamespace.metadata.resourceVersion) >= version);
      const everywhere = (await cluster.custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural,
      })) as { items: CustomObject[] };
      assert.ok(
        everywhere.items.some((o) => o.metadata.name === name && o.metadata.namespace === ns),
      );

      const changed = structuredClone(read);
      changed.spec = {
        ...changed.spec,
        ...(doc.kind === 'Producer' ? { displayName: 'Renamed' } : {}),
      };
      if (doc.kind !== 'Producer') changed.metadata.labels = { touched: 'yes' };
      const replaced = (await cluster.custom.replaceNamespacedCustomObject({
        ...ref(plural, name),
        body: changed,
      })) as CustomObject;
      assert.equal(replaced.metadata.generation, doc.kind === 'Producer' ? 2 : 1);

      await cluster.custom.deleteNamespacedCustomObject(ref(plural, name));
      const status = await expectStatus(
        cluster.custom.getNamespacedCustomObject(ref(plural, name)),
        404,
      );
      assert.equal(status.reason, 'NotFound');
      assert.equal(status.message, `${plural}.${GROUP} "${name}" not found`);
    }
  });

  it('bumps metadata.generation only when the spec changes', async () => {
    const created = await createSubscription('generation');
    const relabelled = (await cluster.custom.patchNamespacedCustomObject(
      { ...ref('subscriptions', 'generation'), body: { metadata: { labels: { team: 'orders' } } } },
      mergePatch,
    )) as CustomObject;
    assert.equal(relabelled.metadata.generation, 1);
    assert.notEqual(relabelled.metadata.resourceVersion, created.metadata.resourceVersion);

    const statusOnly = (await cluster.custom.patchNamespacedCustomObjectStatus(
      { ...ref('subscriptions', 'generation'), body: { status: { observedGeneration: 1 } } },
      mergePatch,
    )) as CustomObject;
    assert.equal(statusOnly.metadata.generation, 1);

    const paused = (await cluster.custom.patchNamespacedCustomObject(
      { ...ref('subscriptions', 'generation'), body: { spec: { paused: true } } },
      mergePatch,
    )) as CustomObject;
    assert.equal(paused.metadata.generation, 2);
  });

  it('writes status only through the status subresource', async () => {
    const created = await createSubscription('status-owner');
    const ready = {
      type: 'Ready',
      status: 'True',
      reason: 'ConsumerReady',
      message: 'delivering',
      lastTransitionTime: '2026-01-01T00:00:00Z',
    };
    const viaMain = (await cluster.custom.replaceNamespacedCustomObject({
      ...ref('subscriptions', 'status-owner'),
      body: { ...created, status: { conditions: [ready] } },
    })) as CustomObject;
    assert.equal(viaMain.status, undefined, 'the main resource ignores status');

    const viaStatus = (await cluster.custom.replaceNamespacedCustomObjectStatus({
      ...ref('subscriptions', 'status-owner'),
      body: {
        ...viaMain,
        spec: { ...viaMain.spec, paused: true },
        status: { conditions: [ready] },
      },
    })) as CustomObject;
    assert.deepEqual(viaStatus.status, { conditions: [ready] });
    assert.equal(viaStatus.spec?.paused, undefined, 'the status subresource ignores spec');
    const read = (await cluster.custom.getNamespacedCustomObject(
      ref('subscriptions', 'status-owner'),
    )) as CustomObject;
    assert.deepEqual(read.status, { conditions: [ready] });
  });

  it('refuses a write carrying a stale resourceVersion with 409 Conflict', async () => {
    const created = await createSubscription('contended');
    await cluster.custom.replaceNamespacedCustomObject({
      ...ref('subscriptions', 'contended'),
      body: { ...created, spec: { ...created.spec, paused: true } },
    });
    const stale = await expectStatus(
      cluster.custom.replaceNamespacedCustomObject({
        ...ref('subscriptions', 'contended'),
        body: { ...created, spec: { ...created.spec, paused: false } },
      }),
      409,
    );
    assert.equal(stale.reason, 'Conflict');
    assert.match(
      stale.message ?? '',
      /the object has been modified; please apply your changes to the latest version/,
    );
    const stalePatch = await expectStatus(
      cluster.custom.patchNamespacedCustomObject(
        {
          ...ref('subscriptions', 'contended'),
          body: {
            metadata: { resourceVersion: created.metadata.resourceVersion },
            spec: { paused: false },
          },
        },
        mergePatch,
      ),
      409,
    );
    assert.equal(stalePatch.reason, 'Conflict');
    const staleStatus = await expectStatus(
      cluster.custom.replaceNamespacedCustomObjectStatus({
        ...ref('subscriptions', 'contended'),
        body: { ...created, status: { observedGeneration: 1 } },
      }),
      409,
    );
    assert.equal(staleStatus.reason, 'Conflict');
  });

  it('answers 409 AlreadyExists for an existing name and 404 for a missing namespace', async () => {
    await createSubscription('twice');
    const exists = await expectStatus(createSubscription('twice'), 409);
    assert.equal(exists.reason, 'AlreadyExists');
    assert.equal(exists.message, `subscriptions.${GROUP} "twice" already exists`);

    const missing = await expectStatus(
      cluster.custom.createNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'nowhere',
        plural: 'subscriptions',
        body: {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: 'Subscription',
          metadata: { name: 'x' },
          spec: {},
        },
      }),
      404,
    );
    assert.equal(missing.message, 'namespaces "nowhere" not found');
  });

  it('does not change the resourceVersion of a write that changes nothing', async () => {
    const created = await createSubscription('idempotent');
    const again = (await cluster.custom.replaceNamespacedCustomObject({
      ...ref('subscriptions', 'idempotent'),
      body: created,
    })) as CustomObject;
    assert.equal(again.metadata.resourceVersion, created.metadata.resourceVersion);
  });

  it('applies JSON merge patches and JSON patches (RFC 7386, RFC 6902)', async () => {
    await createSubscription('patched', { startFrom: 'earliest' });
    const merged = (await cluster.custom.patchNamespacedCustomObject(
      {
        ...ref('subscriptions', 'patched'),
        body: { spec: { startFrom: null, delivery: { mode: 'structured' } } },
      },
      mergePatch,
    )) as CustomObject;
    assert.equal(merged.spec?.startFrom, undefined);
    assert.deepEqual(merged.spec?.delivery, { mode: 'structured' });

    const patched = (await cluster.custom.patchNamespacedCustomObject(
      {
        ...ref('subscriptions', 'patched'),
        body: [
          { op: 'test', path: '/spec/delivery/mode', value: 'structured' },
          { op: 'add', path: '/spec/eventTypes/-', value: 'order-shipped' },
          { op: 'replace', path: '/spec/sink/uri', value: 'https://partner.example/v2' },
          { op: 'remove', path: '/spec/delivery' },
        ],
      },
      jsonPatch,
    )) as CustomObject;
    assert.deepEqual(patched.spec?.eventTypes, ['order-created', 'order-shipped']);
    assert.deepEqual(patched.spec?.sink, { uri: 'https://partner.example/v2' });
    assert.equal(patched.spec?.delivery, undefined);

    const failedTest = await expectStatus(
      cluster.custom.patchNamespacedCustomObject(
        {
          ...ref('subscriptions', 'patched'),
          body: [
            { op: 'test', path: '/spec/sink/uri', value: 'https://elsewhere.example/' },
            { op: 'replace', path: '/spec/paused', value: true },
          ],
        },
        jsonPatch,
      ),
      422,
    );
    assert.match(failedTest.message ?? '', /test failed/);
  });

  it('applies server-side apply patches, dropping fields the manager no longer sets', async () => {
    const apply = (spec: Record<string, unknown>, labels?: Record<string, string>) =>
      cluster.custom.patchNamespacedCustomObject(
        {
          ...ref('subscriptions', 'applied'),
          fieldManager: 'herald-test',
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'Subscription',
            metadata: { name: 'applied', namespace: ns, labels },
            spec: {
              eventTypes: ['order-created'],
              sink: { uri: 'https://partner.example/' },
              ...spec,
            },
          },
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      ) as Promise<CustomObject>;
    const first = await apply({ paused: true }, { app: 'herald' });
    assert.equal(first.spec?.paused, true);
    // Another writer's label is not this manager's to remove.
    await cluster.custom.patchNamespacedCustomObject(
      { ...ref('subscriptions', 'applied'), body: { metadata: { labels: { team: 'orders' } } } },
      mergePatch,
    );
    const second = await apply({ startFrom: 'earliest' });
    assert.equal(second.spec?.paused, undefined);
    assert.equal(second.spec?.startFrom, 'earliest');
    assert.equal(second.metadata.generation, 2);
    assert.deepEqual(second.metadata.labels, { team: 'orders' });
  });
});

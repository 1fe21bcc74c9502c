/**
 * Deletion as controllers meet it: finalizers hold an object with a deletionTimestamp until
 * the last one is removed; namespaces and CRDs take their contents with them.
 */
import assert from 'node:assert/strict';
import { ApisApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import {
  GROUP,
  VERSION,
  customPath,
  expectStatus,
  recordWatch,
  startFakeCluster,
  type CustomObject,
  type FakeCluster,
} from './fixture.js';

const FINALIZER = 'herald.dev/cleanup';
const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

describe('kube-apiserver fake: finalizers and deletion', () => {
  let cluster: FakeCluster;
  const ns = 'shop';

  before(async () => {
    cluster = await startFakeCluster({ cleanupDelayMs: 10 });
    await cluster.createNamespace(ns);
  });
  after(() => cluster.close());

  function subscription(name: string, namespace = ns) {
    return { group: GROUP, version: VERSION, namespace, plural: 'subscriptions', name };
  }

  function createSubscription(name: string, finalizers: string[] = [], namespace = ns) {
    return cluster.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'subscriptions',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'Subscription',
        metadata: { name, finalizers },
        spec: { eventTypes: ['order-created'], sink: { uri: 'https://partner.example/' } },
      },
    }) as Promise<CustomObject>;
  }

  it('keeps an object with finalizers, marked for deletion, until the last finalizer goes', async () => {
    const created = await createSubscription('guarded', [FINALIZER, 'example.com/other']);
    const watch = await recordWatch(cluster.kc, customPath(ns, 'subscriptions'), {
      resourceVersion: created.metadata.resourceVersion ?? '',
      fieldSelector: 'metadata.name=guarded',
    });
    try {
      const deleted = (await cluster.custom.deleteNamespacedCustomObject(
        subscription('guarded'),
      )) as CustomObject;
      assert.ok(deleted.metadata.deletionTimestamp, 'DELETE answers the object, now being deleted');
      const marked = await watch.next((e) => e.type === 'MODIFIED');
      assert.equal(marked.object.metadata.deletionTimestamp, deleted.metadata.deletionTimestamp);
      assert.equal(marked.object.metadata.deletionGracePeriodSeconds, 0);

      const still = (await cluster.custom.getNamespacedCustomObject(
        subscription('guarded'),
      )) as CustomObject;
      assert.deepEqual(still.metadata.finalizers, [FINALIZER, 'example.com/other']);
      const again = (await cluster.custom.deleteNamespacedCustomObject(
        subscription('guarded'),
      )) as CustomObject;
      assert.equal(again.metadata.deletionTimestamp, deleted.metadata.deletionTimestamp);

      const refused = await expectStatus(
        cluster.custom.patchNamespacedCustomObject(
          {
            ...subscription('guarded'),
            body: { metadata: { finalizers: [FINALIZER, 'example.com/other', 'late'] } },
          },
          mergePatch,
        ),
        422,
      );
      assert.deepEqual(
        refused.details?.causes?.map((c) => c.field),
        ['metadata.finalizers'],
      );

      await cluster.custom.patchNamespacedCustomObject(
        { ...subscription('guarded'), body: { metadata: { finalizers: ['example.com/other'] } } },
        mergePatch,
      );
      assert.equal((await watch.next()).type, 'MODIFIED');
      await cluster.custom.patchNamespacedCustomObject(
        { ...subscription('guarded'), body: { metadata: { finalizers: null } } },
        mergePatch,
      );
      const gone = await watch.next();
      assert.equal(gone.type, 'DELETED');
      assert.equal(gone.object.metadata.name, 'guarded');
      await expectStatus(cluster.custom.getNamespacedCustomObject(subscription('guarded')), 404);
    } finally {
      watch.stop();
    }
  });

  it('deletes a namespace after its contents, which wait on their own finalizers', async () => {
    await cluster.createNamespace('doomed');
    await createSubscription('held', [FINALIZER], 'doomed');
    await createSubscription('free', [], 'doomed');
    await cluster.core.createNamespacedSecret({
      namespace: 'doomed',
      body: { metadata: { name: 's' }, stringData: { k: 'v' } },
    });
    const namespaces = await recordWatch(cluster.kc, '/api/v1/namespaces', {
      fieldSelector: 'metadata.name=doomed',
    });
    const contents = await recordWatch(cluster.kc, customPath('doomed', 'subscriptions'));
    try {
      const terminating = await cluster.core.deleteNamespace({ name: 'doomed' });
      assert.equal((terminating as { status?: { phase?: string } }).status?.phase, 'Terminating');
      const forbidden = await expectStatus(createSubscription('late', [], 'doomed'), 403);
      assert.match(forbidden.message ?? '', /because it is being terminated/);

      await contents.next((e) => e.type === 'DELETED' && e.object.metadata.name === 'free');
      await contents.next(
        (e) =>
          e.type === 'MODIFIED' &&
          e.object.metadata.name === 'held' &&
          !!e.object.metadata.deletionTimestamp,
      );
      await expectStatus(
        cluster.core.readNamespacedSecret({ name: 's', namespace: 'doomed' }),
        404,
      );
      const waiting = await cluster.core.readNamespace({ name: 'doomed' });
      assert.equal(waiting.status?.phase, 'Terminating');

      await cluster.custom.patchNamespacedCustomObject(
        { ...subscription('held', 'doomed'), body: { metadata: { finalizers: [] } } },
        mergePatch,
      );
      await namespaces.next((e) => e.type === 'DELETED');
      await expectStatus(cluster.core.readNamespace({ name: 'doomed' }), 404);
    } finally {
      namespaces.stop();
      contents.stop();
    }
  });

  it('serves a CRD created through the API at once, and removes it with its objects', async () => {
    const crd = await cluster.extensions.createCustomResourceDefinition({
      body: {
        metadata: { name: 'widgets.example.com' },
        spec: {
          group: 'example.com',
          scope: 'Namespaced',
          names: { plural: 'widgets', singular: 'widget', kind: 'Widget', shortNames: ['wd'] },
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: { type: 'object', properties: { size: { type: 'integer' } } },
                  },
                },
              },
            },
          ],
        },
      },
    });
    const established = crd.status?.conditions?.find((c) => c.type === 'Established');
    assert.equal(established?.status, 'True');
    const widget = { group: 'example.com', version: 'v1', namespace: ns, plural: 'widgets' };
    await cluster.custom.createNamespacedCustomObject({
      ...widget,
      body: {
        apiVersion: 'example.com/v1',
        kind: 'Widget',
        metadata: { name: 'w1' },
        spec: { size: 3 },
      },
    });
    const wrong = await expectStatus(
      cluster.custom.createNamespacedCustomObject({
        ...widget,
        body: {
          apiVersion: 'example.com/v1',
          kind: 'Widget',
          metadata: { name: 'w2' },
          spec: { size: 'big' },
        },
      }),
      422,
    );
    assert.deepEqual(
      wrong.details?.causes?.map((c) => c.field),
      ['spec.size'],
    );

    const widgets = await recordWatch(cluster.kc, '/apis/example.com/v1/widgets');
    const crds = await recordWatch(
      cluster.kc,
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions',
      {
        fieldSelector: 'metadata.name=widgets.example.com',
      },
    );
    try {
      await cluster.extensions.deleteCustomResourceDefinition({ name: 'widgets.example.com' });
      await widgets.next((e) => e.type === 'DELETED' && e.object.metadata.name === 'w1');
      await crds.next((e) => e.type === 'DELETED');
      await expectStatus(cluster.custom.getNamespacedCustomObject({ ...widget, name: 'w1' }), 404);
      const groups = await cluster.kc.makeApiClient(ApisApi).getAPIVersions();
      assert.ok(!groups.groups.some((g) => g.name === 'example.com'));
    } finally {
      widgets.stop();
      crds.stop();
    }
  });
});

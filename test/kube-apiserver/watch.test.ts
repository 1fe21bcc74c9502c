/**
 * Watches and informers through client-node: events in order from a resourceVersion,
 * selectors, bookmarks, 410 Gone for a compacted resourceVersion, and makeInformer.
 */
import assert from 'node:assert/strict';
import {
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type KubernetesObject,
} from '@kubernetes/client-node';
import {
  GROUP,
  VERSION,
  customPath,
  recordWatch,
  startFakeCluster,
  type CustomObject,
  type FakeCluster,
} from './fixture.js';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const WATCH_HISTORY = 20;

describe('kube-apiserver fake: watch and informers', () => {
  let cluster: FakeCluster;
  const ns = 'shop';

  before(async () => {
    cluster = await startFakeCluster({ bookmarkIntervalMs: 50, watchHistory: WATCH_HISTORY });
    await cluster.createNamespace(ns);
  });
  after(() => cluster.close());

  const target = (name: string, namespace = ns) => ({
    group: GROUP,
    version: VERSION,
    namespace,
    plural: 'eventtypes',
    name,
  });

  function createEventType(name: string, labels: Record<string, string> = {}, namespace = ns) {
    return cluster.custom.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: 'eventtypes',
      body: {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'EventType',
        metadata: { name, labels },
        spec: { type: `com.example.${name}` },
      },
    }) as Promise<CustomObject>;
  }

  async function listVersion(): Promise<string> {
    const list = (await cluster.custom.listNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'eventtypes',
    })) as { metadata: { resourceVersion: string } };
    return list.metadata.resourceVersion;
  }

  it('streams ADDED, MODIFIED and DELETED after the listed resourceVersion, in order', async () => {
    await createEventType('before-list');
    const watch = await recordWatch(cluster.kc, customPath(ns, 'eventtypes'), {
      resourceVersion: await listVersion(),
    });
    try {
      await createEventType('watched');
      await cluster.custom.patchNamespacedCustomObject(
        { ...target('watched'), body: { spec: { deprecated: true } } },
        mergePatch,
      );
      await cluster.custom.deleteNamespacedCustomObject(target('watched'));
      const seen = [await watch.next(), await watch.next(), await watch.next()];
      assert.deepEqual(
        seen.map((e) => [e.type, e.object.metadata.name]),
        [
          ['ADDED', 'watched'],
          ['MODIFIED', 'watched'],
          ['DELETED', 'watched'],
        ],
      );
      assert.equal(seen[1]?.object.spec?.deprecated, true);
      const versions = seen.map((e) => Number(e.object.metadata.resourceVersion));
      assert.deepEqual(
        [...versions].sort((a, b) => a - b),
        versions,
      );
      assert.ok(!watch.events.some((e) => e.object.metadata.name === 'before-list'));
    } finally {
      watch.stop();
    }
  });

  it('starts a watch without resourceVersion with the objects that exist', async () => {
    await createEventType('existing-one', {}, 'default');
    const watch = await recordWatch(cluster.kc, customPath('default', 'eventtypes'));
    try {
      const first = await watch.next();
      assert.equal(first.type, 'ADDED');
      assert.equal(first.object.metadata.name, 'existing-one');
    } finally {
      watch.stop();
    }
  });

  it('reports objects entering and leaving a label selector as ADDED and DELETED', async () => {
    await createEventType('relabelled');
    const watch = await recordWatch(cluster.kc, customPath(ns, 'eventtypes'), {
      resourceVersion: await listVersion(),
      labelSelector: 'team=orders',
    });
    try {
      const label = (value: string | null) =>
        cluster.custom.patchNamespacedCustomObject(
          { ...target('relabelled'), body: { metadata: { labels: { team: value } } } },
          mergePatch,
        );
      await label('orders');
      await label('billing');
      const entered = await watch.next();
      const left = await watch.next();
      assert.deepEqual([entered.type, left.type], ['ADDED', 'DELETED']);
      assert.equal(left.object.metadata.labels?.team, 'billing');
    } finally {
      watch.stop();
    }
  });

  it('sends BOOKMARK events carrying the current resourceVersion when asked', async () => {
    const watch = await recordWatch(cluster.kc, customPath(undefined, 'eventtypes'), {
      resourceVersion: await listVersion(),
      allowWatchBookmarks: true,
    });
    try {
      const created = await createEventType('bookmarked');
      const bookmark = await watch.next(
        (e) =>
          e.type === 'BOOKMARK' &&
          Number(e.object.metadata.resourceVersion) >= Number(created.metadata.resourceVersion),
      );
      assert.equal(bookmark.object.kind, 'EventType');
      assert.equal(bookmark.object.spec, undefined);
    } finally {
      watch.stop();
    }
  });

  it('answers a compacted resourceVersion with an ERROR event: 410 Expired, then ends the stream', async () => {
    const old = await listVersion();
    // One write more than the log keeps: the event right after `old` is gone.
    for (let i = 0; i <= WATCH_HISTORY; i++) {
      await cluster.custom.patchNamespacedCustomObject(
        { ...target('bookmarked'), body: { metadata: { labels: { round: String(i) } } } },
        mergePatch,
      );
    }
    const watch = await recordWatch(cluster.kc, customPath(ns, 'eventtypes'), {
      resourceVersion: old,
    });
    const error = await watch.next();
    assert.equal(error.type, 'ERROR');
    const status = error.object as unknown as {
      kind: string;
      code: number;
      reason: string;
      message: string;
    };
    assert.equal(status.kind, 'Status');
    assert.equal(status.code, 410);
    assert.equal(status.reason, 'Expired');
    assert.match(status.message, new RegExp(`too old resource version: ${old}`));
    await watch.ended;
  });

  it('ends a watch after timeoutSeconds', async () => {
    const watch = await recordWatch(cluster.kc, customPath(ns, 'eventtypes'), {
      resourceVersion: await listVersion(),
      timeoutSeconds: 1,
    });
    assert.equal(await watch.ended, null);
  });

  it('feeds a client-node informer: initial list, then adds, updates and deletes across namespaces', async () => {
    await cluster.createNamespace('billing');
    await createEventType('listed', {}, 'billing');
    const path = customPath(undefined, 'eventtypes');
    const informer = makeInformer(cluster.kc, path, () =>
      cluster.custom.listClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'eventtypes',
      }),
    );
    const seen: string[] = [];
    const waiters: (() => void)[] = [];
    const record = (verb: string) => (obj: KubernetesObject) => {
      seen.push(`${verb} ${obj.metadata?.namespace}/${obj.metadata?.name}`);
      for (const wake of waiters.splice(0)) wake();
    };
    const until = (entry: string) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`informer never saw ${entry}; saw ${seen.join(', ')}`)),
          5000,
        );
        const check = () => {
          if (seen.includes(entry)) {
            clearTimeout(timer);
            resolve();
          } else waiters.push(check);
        };
        check();
      });
    informer.on('add', record('add'));
    informer.on('update', record('update'));
    informer.on('delete', record('delete'));
    await informer.start();
    try {
      await until('add billing/listed');
      await createEventType('informed', {}, 'billing');
      await until('add billing/informed');
      await cluster.custom.patchNamespacedCustomObject(
        { ...target('informed', 'billing'), body: { spec: { description: 'now described' } } },
        mergePatch,
      );
      await until('update billing/informed');
      await cluster.custom.deleteNamespacedCustomObject(target('informed', 'billing'));
      await until('delete billing/informed');
      const cached = informer.get('listed', 'billing') as CustomObject | undefined;
      assert.equal(cached?.spec?.type, 'com.example.listed');
      assert.equal(informer.get('informed', 'billing'), undefined);
    } finally {
      await informer.stop();
    }
  });
});

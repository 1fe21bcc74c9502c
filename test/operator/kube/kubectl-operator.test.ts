import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findKubeTools } from '../../support/kube-tools.js';
import { REPO_ROOT } from '../../support/processes.js';
import { eventually, startCluster, type Cluster } from './harness.js';

const run = promisify(execFile);

describe('kubectl apply -f examples/ with the operator running', function () {
  this.timeout(120_000);
  let c: Cluster;
  let kubectl: (...args: string[]) => Promise<string>;
  before(async () => {
    c = await startCluster();
    const tools = findKubeTools();
    kubectl = async (...args) =>
      (await run(tools.kubectl, ['--kubeconfig', c.api.kubeconfigPath, ...args])).stdout;
    await c.startOperator();
  });
  after(async () => c?.stop());

  it('shows every example resource Ready in `kubectl get herald`', async () => {
    await kubectl('apply', '-f', join(REPO_ROOT, 'examples'));
    const out = await eventually(
      'all Ready in kubectl get herald',
      async () => {
        const text = await kubectl(
          'get',
          'herald',
          '-n',
          'shop',
          '-o',
          'custom-columns=KIND:.kind,NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status',
        );
        const rows = text.trim().split('\n').slice(1);
        return rows.length === 4 && rows.every((r) => /\sTrue$/.test(r)) ? text : undefined;
      },
      60_000,
    );
    assert.match(out, /EventType\s+order-created\s+True/);
    assert.match(out, /EventType\s+order-shipped\s+True/);
    assert.match(out, /Producer\s+acme\s+True/);
    assert.match(out, /Subscription\s+demo-sink\s+True/);
    // The default table (printer columns) shows READY too.
    const table = await kubectl('get', 'eventtypes', '-n', 'shop');
    assert.match(table.split('\n')[0] ?? '', /READY/);
    assert.match(table, /order-created\s+.*True/);
  });

  it('deletes them again, the operator’s finalizers releasing each', async () => {
    await kubectl('delete', '-f', join(REPO_ROOT, 'examples'), '--wait=true', '--timeout=60s');
    const left = await kubectl('get', 'herald', '-n', 'shop', '--ignore-not-found');
    assert.equal(left.trim(), '');
  });
});

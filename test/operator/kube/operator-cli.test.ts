import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Kind } from '../../../core/resources/types.js';
import { generateConfigKey } from '../../../core/config/seal.js';
import { findFreePort, spawnHerald, type HeraldProcess } from '../../support/processes.js';
import {
  eventually,
  NS,
  orderCreatedSpec,
  resourceApi,
  startCluster,
  waitForReady,
  type Cluster,
} from './harness.js';

describe('herald operator (Kubernetes mode, real processes)', function () {
  this.timeout(120_000);
  let c: Cluster;
  const procs: HeraldProcess[] = [];
  before(async () => {
    c = await startCluster();
  });
  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await c?.stop();
  });

  const startOperatorProcess = (metricsPort = 0): HeraldProcess => {
    const p = spawnHerald(
      [
        'operator',
        '--nats',
        c.nats.url,
        '--kubeconfig',
        c.api.kubeconfigPath,
        '--lease-namespace',
        NS,
        '--lease-duration',
        '2s',
        '--metrics-port',
        String(metricsPort),
        '--log-level',
        'debug',
      ],
      { HERALD_CONFIG_KEY: generateConfigKey() },
    );
    procs.push(p);
    return p;
  };

  const holder = async (): Promise<string | undefined> => {
    try {
      const lease = await c.coordination.readNamespacedLease({
        name: 'herald-operator',
        namespace: NS,
      });
      return lease.spec?.holderIdentity || undefined;
    } catch {
      return undefined;
    }
  };

  it('fails over to the second process once the SIGKILLed leader’s Lease runs out', async () => {
    const port = await findFreePort();
    const a = startOperatorProcess(port);
    await a.waitForOutput(/became the leader/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(metrics, /^herald_operator_leader 1$/m);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    const b = startOperatorProcess();
    await b.waitForOutput(/leader election: held by another/); // campaigning, not leading
    const ets = resourceApi(c, Kind.EventType);
    await ets.create('order-created', orderCreatedSpec());
    await waitForReady(ets.get, 'order-created');
    assert.doesNotMatch(b.stdout(), /became the leader/, 'only one process reconciles');
    const first = await holder();
    assert.ok(first);

    a.child.kill('SIGKILL');
    await once(a.child, 'exit');
    await b.waitForOutput(/became the leader/);
    const second = await eventually('a new holder', async () => {
      const h = await holder();
      return h && h !== first ? h : undefined;
    });
    assert.notEqual(second, first);
    await ets.create('order-shipped', orderCreatedSpec({ type: 'com.example.order.shipped' }));
    await waitForReady(ets.get, 'order-shipped');
  });
});

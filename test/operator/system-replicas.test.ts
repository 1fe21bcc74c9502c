/**
 * `--system-replicas` against a real three-server JetStream cluster: Herald's system streams
 * and KV buckets (dead letters, attempts, redrives, the config, the delivery ledger, endpoint
 * health) get that many replicas in both operator modes, ones that exist with fewer are scaled
 * up with their contents, and a value JetStream cannot take is refused before anything is made.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { openConfigBucket } from '../../core/config/kv.js';
import { generateConfigKey, parseConfigKey } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import { REPLICAS_BUCKET } from '../../core/replica-membership.js';
import {
  ATTEMPTS_STREAM,
  CONFIG_BUCKET,
  ConfigKeyPrefix,
  configKeyFor,
  DELIVERY_STATE_STREAM,
  DLQ_SINK_CONSUMER,
  DLQ_STREAM,
  dlqSubjectFor,
  LEDGER_BUCKET,
  LEDGER_STREAM,
  ledgerKeyFor,
  REDRIVE_CONSUMER,
  REDRIVE_STREAM,
  streamNameFor,
} from '../../core/topology.js';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/server.js';
import { startTestNatsCluster, type TestNatsCluster } from '../support/nats-cluster.js';
import { spawnHerald, type HeraldProcess } from '../support/processes.js';
import { NO_NATS_AUTH_ENV } from '../support/secured-nats.js';

const CONFIG_STREAM = `KV_${CONFIG_BUCKET}`;
const SYSTEM_STREAMS = [
  DLQ_STREAM,
  ATTEMPTS_STREAM,
  REDRIVE_STREAM,
  CONFIG_STREAM,
  LEDGER_STREAM,
  DELIVERY_STATE_STREAM,
  `KV_${REPLICAS_BUCKET}`,
] as const;
const NS = 'shop';
const ORDER_STREAM = streamNameFor(NS, 'order-created');

const EVENT_TYPE_YAML = `
apiVersion: herald.dev/v1alpha1
kind: EventType
metadata: { name: order-created, namespace: ${NS} }
spec:
  type: com.example.order.created
`;

/** Polls `check` until it returns true, or fails after timeoutMs saying what it last saw. */
async function waitFor(
  what: string,
  check: () => Promise<true | string>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (err) {
      last = String(err);
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Replication {
  /** config.num_replicas */
  replicas: number | undefined;
  /** Peers besides the leader that JetStream reports (cluster.replicas). */
  followers: number;
}

async function replicationOf(jsm: JetStreamManager, stream: string): Promise<Replication> {
  const info = await jsm.streams.info(stream);
  return { replicas: info.config.num_replicas, followers: info.cluster?.replicas?.length ?? 0 };
}

/** Waits until every named stream has `replicas` replicas, all of them placed. */
async function waitForReplicas(
  jsm: JetStreamManager,
  streams: readonly string[],
  replicas: number,
): Promise<void> {
  await waitFor(`${streams.join(', ')} at R${replicas}`, async () => {
    const seen: string[] = [];
    for (const s of streams) {
      const r = await replicationOf(jsm, s).catch((err: unknown) => String(err));
      if (typeof r === 'string' || r.replicas !== replicas || r.followers !== replicas - 1)
        seen.push(`${s}: ${typeof r === 'string' ? r : JSON.stringify(r)}`);
    }
    return seen.length === 0 ? true : seen.join('; ');
  });
}

/** Runs `herald <args>` to its end: exit code and everything it printed. */
async function runHerald(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stderr: string }> {
  const p = spawnHerald(args, env);
  const [code] = (await once(p.child, 'close')) as [number | null];
  return { code, stderr: p.stderr() };
}

describe('system replicas (--system-replicas) on a 3-server NATS cluster', function () {
  this.timeout(180_000);
  let cluster: TestNatsCluster;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let dir: string;
  const configKey = generateConfigKey();
  const processes: HeraldProcess[] = [];
  const operators: RunningOperator[] = [];
  let api: KubeApiServer | undefined;

  before(async () => {
    cluster = await startTestNatsCluster();
    nc = await cluster.connect();
    jsm = await jetstreamManager(nc);
  });
  after(() => cluster?.stop());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-system-replicas-'));
    writeFileSync(join(dir, 'event-types.yaml'), EVENT_TYPE_YAML);
  });

  // Each test starts from an empty JetStream.
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
    await Promise.all(operators.splice(0).map((o) => o.stop()));
    await api?.close();
    api = undefined;
    rmSync(dir, { recursive: true, force: true });
    // After a server was killed and restarted, the cluster may still be electing leaders: the
    // JetStream API then times out for a while, so each step is tried until it answers.
    const names = await retryWhileClusterSettles(async () => {
      const found: string[] = [];
      for await (const name of jsm.streams.names()) found.push(name);
      return found;
    });
    for (const name of names) {
      // A delete that timed out may have happened all the same: gone is what is wanted.
      await retryWhileClusterSettles(() =>
        jsm.streams.delete(name).catch((err: unknown) => {
          if (!(err instanceof Error && /stream not found/i.test(err.message))) throw err;
          return true;
        }),
      );
    }
  });

  const startOperatorProcess = (args: string[], env: NodeJS.ProcessEnv = {}): HeraldProcess => {
    const p = spawnHerald(['operator', '--nats', cluster.url, ...args], {
      ...NO_NATS_AUTH_ENV,
      HERALD_CONFIG_KEY: configKey,
      HERALD_SYSTEM_REPLICAS: '',
      ...env,
    });
    processes.push(p);
    return p;
  };

  it('file mode: every system stream and KV bucket gets 3 replicas, EventType streams keep their own', async () => {
    const op = startOperatorProcess(['--resources', dir, '--system-replicas', '3']);
    await op.waitForOutput(/"msg":"config applied"/);

    await waitForReplicas(jsm, SYSTEM_STREAMS, 3);
    for (const [stream, durable] of [
      [DLQ_STREAM, DLQ_SINK_CONSUMER],
      [REDRIVE_STREAM, REDRIVE_CONSUMER],
    ] as const) {
      // Their consumers inherit the stream's replicas: a redrive's position survives a server too.
      await waitFor(`${durable} replicated`, async () => {
        const info = await jsm.consumers.info(stream, durable);
        return info.cluster?.replicas?.length === 2 || JSON.stringify(info.cluster);
      });
    }
    // spec.retention.replicas (default 1) governs EventType streams, not this flag.
    assert.deepEqual(await replicationOf(jsm, ORDER_STREAM), { replicas: 1, followers: 0 });
  });

  it('file mode: scales a config bucket a broker made first, and R1 system streams, to 3 keeping their contents', async () => {
    const logger = createSilentLogger();
    const key = parseConfigKey(configKey);
    // A broker that starts before any operator creates the config bucket with one replica.
    const brokerKv = await openConfigBucket(jetstream(nc));
    assert.equal((await replicationOf(jsm, CONFIG_STREAM)).replicas, 1);
    // An operator of before the upgrade (the default, 1) makes the rest with one replica.
    const older = await startOperator({
      natsUrl: cluster.url,
      resourcesDir: dir,
      configKey: key,
      logger,
    });
    operators.push(older);
    await older.applyNow();
    await older.stop();
    for (const s of SYSTEM_STREAMS)
      assert.equal((await replicationOf(jsm, s)).replicas, 1, `${s} starts at R1`);
    const deadLetter = await jetstream(nc).publish(
      dlqSubjectFor(NS, 'partner-orders'),
      '{"dead":"letter"}',
    );

    const op = await startOperator({
      natsUrl: cluster.url,
      resourcesDir: dir,
      configKey: key,
      logger,
      systemReplicas: 3,
    });
    operators.push(op);
    // Its first apply, done before startOperator resolves, scaled them.
    await waitForReplicas(jsm, SYSTEM_STREAMS, 3);

    // Still the same bucket and stream, with what they held: the broker reads the config the
    // operator wrote, and the dead letter is there.
    const entry = await brokerKv.get(configKeyFor(ConfigKeyPrefix.EventType, NS, 'order-created'));
    assert.equal(entry?.json<{ type: string }>().type, 'com.example.order.created');
    const dlq = await jsm.streams.getMessage(DLQ_STREAM, { seq: deadLetter.seq });
    assert.equal(dlq?.string(), '{"dead":"letter"}');

    // Nothing left to do on the next apply.
    const again = await op.applyNow();
    assert.deepEqual([...again.topology.created, ...again.topology.updated], []);
  });

  it('Kubernetes mode (HERALD_SYSTEM_REPLICAS=3): system streams and buckets get 3 replicas', async () => {
    api = await startKubeApiServer({ namespaces: [NS] });
    // The config bucket already exists with one replica, as a broker started first leaves it.
    await openConfigBucket(jetstream(nc));
    startOperatorProcess(
      ['--kubeconfig', api.kubeconfigPath, '--leader-elect', 'false', '--metrics-port', '0'],
      { HERALD_SYSTEM_REPLICAS: '3' },
    );
    await waitForReplicas(jsm, SYSTEM_STREAMS, 3);
  });

  it('keeps the config, the delivery ledger and dead letters when the server leading them dies', async () => {
    const op = await startOperator({
      natsUrl: cluster.url,
      resourcesDir: dir,
      configKey: parseConfigKey(configKey),
      logger: createSilentLogger(),
      systemReplicas: 3,
    });
    operators.push(op);
    await waitForReplicas(jsm, SYSTEM_STREAMS, 3);
    await op.stop();
    const js = jetstream(nc);
    const deadLetter = await js.publish(dlqSubjectFor(NS, 'partner-orders'), '{"dead":"letter"}');
    const ledger = await new Kvm(js).open(LEDGER_BUCKET);
    const delivered = ledgerKeyFor(NS, 'partner-orders', 'event-1');
    await ledger.put(delivered, '1');

    const leader = (await jsm.streams.info(CONFIG_STREAM)).cluster?.leader;
    const node = cluster.nodes.find((n) => n.name === leader);
    assert.ok(node, `the config bucket's leader ${leader} is one of the servers`);
    await node.process.kill();
    try {
      const config = await new Kvm(js).open(CONFIG_BUCKET);
      const key = configKeyFor(ConfigKeyPrefix.EventType, NS, 'order-created');
      await waitFor('the config entry from the two servers left', async () => {
        const entry = await config.get(key);
        return entry?.json<{ type: string }>().type === 'com.example.order.created' || 'missing';
      });
      await waitFor(
        'the ledger entry',
        async () => (await ledger.get(delivered))?.string() === '1' || 'missing',
      );
      await waitFor('the dead letter', async () => {
        const m = await jsm.streams.getMessage(DLQ_STREAM, { seq: deadLetter.seq });
        return m?.string() === '{"dead":"letter"}' || 'missing';
      });
    } finally {
      await node.restart();
    }
  });

  it('refuses a replica count JetStream cannot take, before creating anything', async () => {
    const cases: { args: string[]; env: NodeJS.ProcessEnv; shown: string }[] = [
      { args: ['--system-replicas', '0'], env: {}, shown: '0' },
      { args: ['--system-replicas', 'abc'], env: {}, shown: 'abc' },
      { args: [], env: { HERALD_SYSTEM_REPLICAS: '6' }, shown: '6' },
    ];
    for (const { args, env, shown } of cases) {
      const { code, stderr } = await runHerald(
        ['operator', '--nats', cluster.url, '--resources', dir, ...args],
        { ...NO_NATS_AUTH_ENV, HERALD_CONFIG_KEY: configKey, HERALD_SYSTEM_REPLICAS: '', ...env },
      );
      assert.equal(code, 1, `exit code for ${shown}; stderr: ${stderr}`);
      assert.equal(
        stderr.trim(),
        `herald operator: --system-replicas (HERALD_SYSTEM_REPLICAS) must be a whole number from 1 to 5, got "${shown}"`,
      );
    }
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    assert.deepEqual(names, [], 'no stream or bucket was created');
  });
});

/** Runs `step` until it does not time out (a JetStream cluster re-electing leaders), for 60 s. */
async function retryWhileClusterSettles<T>(step: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await step();
    } catch (err) {
      const timedOut = err instanceof Error && /timeout|no responders/i.test(err.message);
      if (!timedOut || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

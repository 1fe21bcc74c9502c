/**
 * A real three-server nats-server JetStream cluster on loopback, for tests of replicated
 * streams and buckets. Each server has its own temporary store, a client port the server picks
 * and a route port chosen free beforehand (routes must name each other's ports up front).
 * `startTestNatsCluster()` resolves once an R3 stream can actually be created: servers print
 * "ready" long before the JetStream meta group has a leader and knows all three peers.
 *
 *   let cluster: TestNatsCluster;
 *   before(async () => { cluster = await startTestNatsCluster(); });
 *   after(() => cluster?.stop());
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerProcess } from '../../cli/nats-server-process.js';
import { isHeraldError, ErrorCode } from '../../core/errors.js';
import { findFreePort } from './processes.js';

export const CLUSTER_NAME = 'herald-test';
const SIZE = 3;
const PROBE_STREAM = 'HERALD_TEST_CLUSTER_PROBE';

export interface ClusterNode {
  /** The server_name, as JetStream reports it in cluster.leader and cluster.replicas. */
  readonly name: string;
  readonly url: string;
  readonly process: NatsServerProcess;
  /** Starts the server again (after `process.kill()`), on the same ports and store. */
  restart(): Promise<void>;
}

export interface TestNatsCluster {
  readonly nodes: readonly ClusterNode[];
  /** The first server's client URL (the others are learnt by gossip). */
  readonly url: string;
  /** A client connection listing every server, closed by stop(). */
  connect(): Promise<NatsConnection>;
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** How long to wait for JetStream to take an R3 stream (default 60 s: 2 cores, 3 servers). */
  readyTimeoutMs?: number;
}

export async function startTestNatsCluster(
  options: NatsClusterOptions = {},
): Promise<TestNatsCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-nats-cluster-'));
  const connections: NatsConnection[] = [];
  let nodes: ClusterNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.allSettled(connections.map((nc) => nc.close()));
    await Promise.allSettled(nodes.map((n) => n.process.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    nodes = await startNodes(dir);
    const [first] = nodes;
    if (!first) throw new Error('no nats-server started');
    const cluster: TestNatsCluster = {
      nodes,
      url: first.url,
      async connect() {
        const nc = await connect({ servers: nodes.map((n) => n.url) });
        connections.push(nc);
        return nc;
      },
      stop,
    };
    await waitForReplicatedJetStream(cluster, options.readyTimeoutMs ?? 60_000);
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * The route ports are found free and released before the servers bind them, so another
 * process may take one in between: that server then exits at start, and all three are
 * started again on new ports (a couple of attempts).
 */
async function startNodes(dir: string): Promise<ClusterNode[]> {
  for (let attempt = 1; ; attempt++) {
    const routePorts = await findDistinctFreePorts(SIZE);
    const starts = routePorts.map((port, i) => startNode(dir, i + 1, port, routePorts));
    const results = await Promise.allSettled(starts);
    const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failure = results.find((r) => r.status === 'rejected');
    if (!failure) return started;
    await Promise.allSettled(started.map((n) => n.process.stop()));
    const reason = failure.reason as unknown;
    if (attempt >= 3 || !isHeraldError(reason, ErrorCode.NatsServerStart)) throw reason;
  }
}

async function findDistinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await findFreePort());
  return [...ports];
}

async function startNode(
  dir: string,
  index: number,
  routePort: number,
  allRoutePorts: number[],
): Promise<ClusterNode> {
  const name = `${CLUSTER_NAME}-${index}`;
  const routes = allRoutePorts.filter((p) => p !== routePort).map((p) => `nats://127.0.0.1:${p}`);
  const configFile = join(dir, `${name}.conf`);
  writeFileSync(
    configFile,
    [
      `server_name: ${name}`,
      'cluster {',
      `  name: ${CLUSTER_NAME}`,
      `  listen: 127.0.0.1:${routePort}`,
      `  routes: [${routes.join(', ')}]`,
      '}',
      '',
    ].join('\n'),
  );
  const start = (port?: number): Promise<NatsServerProcess> =>
    startNatsServer({
      storeDir: join(dir, name),
      configFile,
      binary: process.env.NATS_SERVER_BIN ?? 'nats-server',
      startTimeoutMs: 30_000,
      ...(port !== undefined && { port }),
    });
  let server = await start();
  return {
    name,
    url: server.url,
    get process() {
      return server;
    },
    async restart() {
      await server.stop();
      server = await start(server.port);
    },
  };
}

/** Polls until an R3 stream can be created (then deletes it), or fails at the deadline. */
async function waitForReplicatedJetStream(
  cluster: TestNatsCluster,
  timeoutMs: number,
): Promise<void> {
  const nc = await cluster.connect();
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      await jsm.streams.add({
        name: PROBE_STREAM,
        subjects: ['herald.test.cluster.probe'],
        storage: StorageType.Memory,
        num_replicas: SIZE,
      });
      await jsm.streams.delete(PROBE_STREAM);
      await nc.close();
      return;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      await nc.close();
      throw new Error(
        `the ${SIZE}-server NATS cluster did not accept an R${SIZE} stream within ${timeoutMs} ms: ${String(last)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Operator scale, in Kubernetes mode (issue 5 item 11):
 *   npx tsx bench/operator-scale.ts [--event-types 1000] [--subscriptions 2000] [--changes 200]
 * 1. Cold start: N EventTypes and M Subscriptions (each on one EventType, round robin) are
 *    created in the fake API server (test/support/kube-apiserver) with the operator stopped;
 *    then the operator starts, and we time until every resource is Ready. Reports the
 *    operator's and nats-server's RSS after.
 * 2. Config propagation: a Subscription's sink URI is changed `--changes` times, one at a
 *    time; each delay is from the API write's answer to the moment a config watcher — the
 *    ConfigCache brokers and dispatchers run (core/config/kv.ts) — sees the new value.
 *    Reports p50 and p99.
 * Everything runs on this machine: the API server fake, nats-server and the operator share
 * its cores. Figures, not assertions.
 */
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { jetstream } from '@nats-io/jetstream';
import { openConfigBucket, watchConfig } from '../core/config/kv.js';
import type { CompiledSubscription } from '../core/config/model.js';
import { generateConfigKey, parseConfigKey } from '../core/config/seal.js';
import { createLogger } from '../core/logging.js';
import { startKubeOperator } from '../operator/kube/kube-operator.js';
import { startKubeApiServer } from '../test/support/kube-apiserver/server.js';
import { startTestNatsServer } from '../test/support/nats-server.js';

function readFlag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
const EVENT_TYPES = readFlag('event-types', 1000);
const SUBSCRIPTIONS = readFlag('subscriptions', 2000);
const CHANGES = readFlag('changes', 200);
const NS = 'scale';
const G = { group: 'herald.dev', version: 'v1alpha1', namespace: NS } as const;

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
const rssOf = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
  return kb ? Number(kb) * 1024 : NaN;
};
const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/** Runs `fn` over `items` with `limit` in flight. */
async function forEachLimited<T>(items: T[], limit: number, fn: (t: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

async function main(): Promise<void> {
  const api = await startKubeApiServer({ namespaces: [NS] });
  const nats = await startTestNatsServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  const custom = kc.makeApiClient(CustomObjectsApi);

  const etNames = Array.from({ length: EVENT_TYPES }, (_, i) => `type-${i}`);
  const subNames = Array.from({ length: SUBSCRIPTIONS }, (_, i) => `sub-${i}`);
  const t0 = performance.now();
  await forEachLimited(etNames, 16, (name) =>
    custom.createNamespacedCustomObject({
      ...G,
      plural: 'eventtypes',
      body: {
        apiVersion: 'herald.dev/v1alpha1',
        kind: 'EventType',
        metadata: { name, namespace: NS },
        spec: {
          type: `com.example.${name}`,
          schema: { type: 'object', properties: { id: { type: 'string' } } },
          retention: { maxAge: '1h', maxBytes: '8Mi', storage: 'memory' },
        },
      },
    }),
  );
  await forEachLimited(subNames, 16, (name) =>
    custom.createNamespacedCustomObject({
      ...G,
      plural: 'subscriptions',
      body: {
        apiVersion: 'herald.dev/v1alpha1',
        kind: 'Subscription',
        metadata: { name, namespace: NS },
        spec: {
          eventTypes: [etNames[Number(name.slice(4)) % EVENT_TYPES]],
          sink: { uri: `https://sink.example/${name}` },
        },
      },
    }),
  );
  const createdMs = performance.now() - t0;

  const logs = new Writable({ write: (_c, _e, done) => done() });
  const operatorRssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const op = await startKubeOperator({
    natsUrl: nats.url,
    configKey: parseConfigKey(generateConfigKey()),
    logger: createLogger('operator', { level: 'warn', destination: logs }),
    kubeconfigPath: api.kubeconfigPath,
    leaderElection: false,
    workers: 8,
  });
  const countReady = async (plural: string): Promise<number> => {
    const list = (await custom.listNamespacedCustomObject({ ...G, plural })) as {
      items: {
        metadata: { generation?: number };
        status?: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
      }[];
    };
    return list.items.filter(
      (o) =>
        o.status?.observedGeneration === o.metadata.generation &&
        o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    ).length;
  };
  let ready = 0;
  while (ready < EVENT_TYPES + SUBSCRIPTIONS) {
    await new Promise((r) => setTimeout(r, 250));
    ready = (await countReady('eventtypes')) + (await countReady('subscriptions'));
  }
  const coldMs = performance.now() - started;
  const operatorRss = process.memoryUsage().rss; // operator and API fake share this process
  const natsRss = rssOf(nats.process.pid);

  // Propagation: API write → a ConfigCache (what brokers and dispatchers run) sees it.
  const nc = await nats.connect();
  const watch = await watchConfig(await openConfigBucket(jetstream(nc)));
  const delays: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const name = subNames[i % subNames.length]!;
    const uri = `https://sink.example/${name}/v${i}`;
    const seen = new Promise<void>((resolve) => {
      const onChange = (c: { name: string; value: unknown }): void => {
        if (c.name === name && (c.value as CompiledSubscription | undefined)?.sink.uri === uri) {
          watch.cache.off('change', onChange);
          resolve();
        }
      };
      watch.cache.on('change', onChange);
    });
    const current = (await custom.getNamespacedCustomObject({
      ...G,
      plural: 'subscriptions',
      name,
    })) as {
      spec: Record<string, unknown>;
    };
    await custom.replaceNamespacedCustomObject({
      ...G,
      plural: 'subscriptions',
      name,
      body: { ...current, spec: { ...current.spec, sink: { uri } } },
    });
    const written = performance.now();
    await seen;
    delays.push(performance.now() - written);
  }
  delays.sort((a, b) => a - b);
  watch.stop();

  const cpu = cpus();
  console.log(
    `command: npx tsx bench/operator-scale.ts --event-types ${EVENT_TYPES} --subscriptions ${SUBSCRIPTIONS} --changes ${CHANGES}`,
  );
  console.log(
    `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${mib(totalmem())} RAM, node ${process.version}`,
  );
  console.log(
    `created ${EVENT_TYPES} EventTypes + ${SUBSCRIPTIONS} Subscriptions in the API fake: ${(createdMs / 1000).toFixed(1)} s`,
  );
  console.log(
    `cold start to all Ready: ${(coldMs / 1000).toFixed(1)} s (${((EVENT_TYPES + SUBSCRIPTIONS) / (coldMs / 1000)).toFixed(0)} resources/s)`,
  );
  console.log(
    `RSS: operator + API fake process ${mib(operatorRss)} (before the operator started: ${mib(operatorRssBefore)}); nats-server ${mib(natsRss)}`,
  );
  console.log(
    `config propagation (API write → ConfigCache change), ${CHANGES} changes: p50 ${percentile(delays, 50).toFixed(1)} ms, p99 ${percentile(delays, 99).toFixed(1)} ms, max ${delays[delays.length - 1]!.toFixed(1)} ms`,
  );

  await op.stop();
  await nc.close();
  await nats.stop();
  await api.close();
}

await main();

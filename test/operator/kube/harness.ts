/**
 * The operator in Kubernetes mode against the fake API server and a real nats-server, driven
 * through the real @kubernetes/client-node: create, read and delete resources as kubectl
 * would, and wait for what the operator does (status, JetStream, the config bucket).
 */
import { Writable } from 'node:stream';
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
} from '@kubernetes/client-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { openConfigBucket } from '../../../core/config/kv.js';
import { generateConfigKey, parseConfigKey } from '../../../core/config/seal.js';
import { createLogger } from '../../../core/logging.js';
import {
  startKubeOperator,
  type KubeOperatorOptions,
  type RunningKubeOperator,
} from '../../../operator/kube/kube-operator.js';
import { PLURALS } from '../../../operator/kube/kube-api.js';
import type { Kind } from '../../../core/resources/types.js';
import { startKubeApiServer, type KubeApiServer } from '../../support/kube-apiserver/server.js';
import { startTestNatsServer, type TestNatsServer } from '../../support/nats-server.js';

export const NS = 'shop';
export const GROUP = 'herald.dev';
export const VERSION = 'v1alpha1';

export interface Cluster {
  api: KubeApiServer;
  nats: TestNatsServer;
  kc: KubeConfig;
  custom: CustomObjectsApi;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  jsm: JetStreamManager;
  kv: KV;
  configKey: Buffer;
  logs: Record<string, unknown>[];
  /** Requests the API server answered: "METHOD path status". */
  requests: string[];
  startOperator(options?: Partial<KubeOperatorOptions>): Promise<RunningKubeOperator>;
  stop(): Promise<void>;
}

export async function startCluster(): Promise<Cluster> {
  const requests: string[] = [];
  const api = await startKubeApiServer({ namespaces: [NS], log: (line) => requests.push(line) });
  const nats = await startTestNatsServer();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  const configKey = parseConfigKey(generateConfigKey());
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n'))
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const operators: RunningKubeOperator[] = [];
  const nc = await nats.connect();
  const jsm = await jetstreamManager(nc);
  const kv = await openConfigBucket(jetstream(nc));
  return {
    api,
    nats,
    kc,
    custom: kc.makeApiClient(CustomObjectsApi),
    core: kc.makeApiClient(CoreV1Api),
    coordination: kc.makeApiClient(CoordinationV1Api),
    jsm,
    kv,
    configKey,
    logs,
    requests,
    async startOperator(options = {}) {
      const op = await startKubeOperator({
        natsUrl: nats.url,
        configKey,
        logger: createLogger('operator', { level: 'debug', destination: sink }),
        kubeconfigPath: api.kubeconfigPath,
        leaderElection: false,
        resyncMs: 60_000,
        retry: { baseDelayMs: 50, maxDelayMs: 1_000 },
        ...options,
      });
      operators.push(op);
      return op;
    },
    async stop() {
      await Promise.all(operators.map((o) => o.stop()));
      await nats.stop();
      await api.close();
    },
  };
}

/** Polls `check` until it returns a value (not undefined/false), or fails after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface KubeObject {
  metadata: {
    name: string;
    namespace?: string;
    generation?: number;
    finalizers?: string[];
    resourceVersion?: string;
    deletionTimestamp?: string;
  };
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
    [k: string]: unknown;
  };
}

export function resourceApi(c: Cluster, kind: Kind) {
  const base = { group: GROUP, version: VERSION, namespace: NS, plural: PLURALS[kind] };
  return {
    create: (name: string, spec: Record<string, unknown>) =>
      c.custom.createNamespacedCustomObject({
        ...base,
        body: { apiVersion: `${GROUP}/${VERSION}`, kind, metadata: { name, namespace: NS }, spec },
      }) as Promise<KubeObject>,
    get: async (name: string): Promise<KubeObject | undefined> => {
      try {
        return (await c.custom.getNamespacedCustomObject({ ...base, name })) as KubeObject;
      } catch (err) {
        if ((err as { code?: number }).code === 404) return undefined;
        throw err;
      }
    },
    replaceSpec: async (name: string, spec: Record<string, unknown>): Promise<KubeObject> => {
      const current = (await c.custom.getNamespacedCustomObject({ ...base, name })) as KubeObject;
      return (await c.custom.replaceNamespacedCustomObject({
        ...base,
        name,
        body: { ...current, spec },
      })) as KubeObject;
    },
    delete: (name: string) => c.custom.deleteNamespacedCustomObject({ ...base, name }),
  };
}

export function conditionOf(obj: KubeObject | undefined, type: string) {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

/** The object once Ready has `status` at its current generation. */
export async function waitForReady(
  get: (name: string) => Promise<KubeObject | undefined>,
  name: string,
  status: 'True' | 'False' | 'Unknown' = 'True',
  timeoutMs?: number,
): Promise<KubeObject> {
  return eventually(
    `${name} Ready=${status}`,
    async () => {
      const obj = await get(name);
      const ready = conditionOf(obj, 'Ready');
      return obj &&
        obj.status?.observedGeneration === obj.metadata.generation &&
        ready?.status === status
        ? obj
        : undefined;
    },
    timeoutMs,
  );
}

export const orderCreatedSpec = (extra: Record<string, unknown> = {}) => ({
  type: 'com.example.order.created',
  schema: { type: 'object', required: ['orderId'], properties: { orderId: { type: 'string' } } },
  retention: { maxAge: '24h' },
  ...extra,
});

/** A Producer of order-created that needs no Secret (JWT bearer tokens from an IdP). */
export const jwtProducerSpec = () => ({
  eventTypes: ['order-created'],
  auth: {
    jwt: {
      issuer: 'https://idp.example',
      audience: 'herald',
      jwksUri: 'https://idp.example/jwks',
    },
  },
});

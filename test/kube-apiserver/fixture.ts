/**
 * Shared set-up for the fake API server's tests: a server, a KubeConfig loaded from the
 * kubeconfig it writes, the real client-node API clients, and helpers to await watch events
 * and to read the Status of a failed call.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiException,
  ApiextensionsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  EventsV1Api,
  KubeConfig,
  Watch,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '../support/processes.js';
import {
  startKubeApiServer,
  type KubeApiServer,
  type KubeApiServerOptions,
} from '../support/kube-apiserver/server.js';

export const GROUP = 'herald.dev';
export const VERSION = 'v1alpha1';

export interface FakeCluster {
  api: KubeApiServer;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  coordination: CoordinationV1Api;
  events: EventsV1Api;
  extensions: ApiextensionsV1Api;
  /** Creates a namespace (the fake, like a real server, refuses writes into missing ones). */
  createNamespace(name: string): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeCluster(options: KubeApiServerOptions = {}): Promise<FakeCluster> {
  const api = await startKubeApiServer(options);
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  const watchers: AbortController[] = [];
  const core = kc.makeApiClient(CoreV1Api);
  return {
    api,
    kc,
    core,
    custom: kc.makeApiClient(CustomObjectsApi),
    coordination: kc.makeApiClient(CoordinationV1Api),
    events: kc.makeApiClient(EventsV1Api),
    extensions: kc.makeApiClient(ApiextensionsV1Api),
    async createNamespace(name) {
      await core.createNamespace({ body: { metadata: { name } } });
    },
    async close() {
      for (const w of watchers) w.abort();
      await api.close();
    },
  };
}

/** A custom object as client-node returns it (`any` in its typings). */
export interface CustomObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    finalizers?: string[];
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    [key: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The Kubernetes Status of a call that failed, asserting its HTTP code. */
export interface KubeStatus {
  kind: string;
  code: number;
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; message: string; reason: string }[] };
}

export async function expectStatus(call: Promise<unknown>, code: number): Promise<KubeStatus> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an ApiException, got ${String(err)}`);
    assert.equal(err.code, code, `expected HTTP ${code}, got ${err.code}: ${String(err.body)}`);
    const status = JSON.parse(String(err.body)) as KubeStatus;
    assert.equal(status.kind, 'Status');
    return status;
  }
  assert.fail(`expected HTTP ${code}, but the call succeeded`);
}

/** Every document of the YAML files in a repo directory (examples/), in kubectl's order. */
export function readManifests(dir: string): CustomObject[] {
  const base = join(REPO_ROOT, dir);
  const files = readdirSync(base)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.flatMap((file) =>
    parseAllDocuments(readFileSync(join(base, file), 'utf8'))
      .map((doc) => doc.toJS() as CustomObject | null)
      .filter((doc): doc is CustomObject => doc !== null),
  );
}

export interface WatchEvent {
  type: string;
  object: CustomObject;
}

/** A watch that records events; `next()` awaits the first unseen event matching a predicate. */
export interface RecordedWatch {
  events: WatchEvent[];
  next(predicate?: (e: WatchEvent) => boolean, timeoutMs?: number): Promise<WatchEvent>;
  /** Resolves when the server ends the stream (with the error, if any). */
  ended: Promise<unknown>;
  stop(): void;
}

export async function recordWatch(
  kc: KubeConfig,
  path: string,
  query: Record<string, string | number | boolean> = {},
): Promise<RecordedWatch> {
  const events: WatchEvent[] = [];
  const waiters = new Set<() => void>();
  let consumed = 0;
  let resolveEnded: (err: unknown) => void = () => undefined;
  const ended = new Promise<unknown>((resolve) => {
    resolveEnded = resolve;
  });
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, object: CustomObject) => {
      events.push({ type, object });
      for (const wake of [...waiters]) wake();
    },
    (err) => resolveEnded(err),
  );
  return {
    events,
    ended,
    stop: () => controller.abort(),
    next(predicate = () => true, timeoutMs = 5000) {
      return new Promise<WatchEvent>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = events.map((e) => `${e.type} ${e.object.metadata?.name ?? ''}`).join(', ');
          reject(new Error(`no matching watch event within ${timeoutMs} ms; seen: ${seen}`));
        }, timeoutMs);
        const check = (): void => {
          while (consumed < events.length) {
            const event = events[consumed++] as WatchEvent;
            if (predicate(event)) {
              clearTimeout(timer);
              waiters.delete(check);
              resolve(event);
              return;
            }
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
}

export function customPath(namespace: string | undefined, plural: string): string {
  return namespace
    ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${plural}`
    : `/apis/${GROUP}/${VERSION}/${plural}`;
}

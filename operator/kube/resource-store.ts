/**
 * The operator's view of the cluster: one informer (list + watch, through client-node) per
 * Herald kind and one for Secrets, all namespaces. An informer that fails (API server gone, a
 * watch refused) is restarted with backoff; a 410 Gone relists on its own. Every change is
 * passed on, so the operator can queue the keys it affects.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  makeInformer,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1Secret,
} from '@kubernetes/client-node';
import type { Logger } from '../../core/logging.js';
import {
  GROUP,
  Kind,
  VERSION,
  type HeraldResource,
  type Secret,
} from '../../core/resources/types.js';
import { PLURALS, type KubeClients } from './kube-api.js';

export type WatchedKind = Kind | 'Secret';

export type StoreChange = {
  kind: WatchedKind;
  type: 'add' | 'update' | 'delete';
  object: KubernetesObject;
};

/** Informer restarts back off from 500 ms doubling to 30 s; a connect resets it. */
const RESTART_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

interface Watched {
  kind: WatchedKind;
  informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>;
  failures: number;
  synced: boolean;
}

export class ResourceStore {
  private readonly watched: Watched[] = [];
  private readonly stopSignal = new AbortController();

  constructor(
    clients: KubeClients,
    private readonly log: Logger,
    private readonly onChange: (change: StoreChange) => void,
  ) {
    const { kc, custom, core } = clients;
    for (const kind of Object.values(Kind)) {
      const plural = PLURALS[kind];
      const list = async (): Promise<KubernetesListObject<KubernetesObject>> =>
        (await custom.listClusterCustomObject({
          group: GROUP,
          version: VERSION,
          plural,
        })) as KubernetesListObject<KubernetesObject>;
      this.add(kind, makeInformer(kc, `/apis/${GROUP}/${VERSION}/${plural}`, list));
    }
    const listSecrets = async (): Promise<KubernetesListObject<KubernetesObject>> =>
      (await core.listSecretForAllNamespaces()) as KubernetesListObject<V1Secret>;
    this.add('Secret', makeInformer(kc, '/api/v1/secrets', listSecrets));
  }

  private add(
    kind: WatchedKind,
    informer: Informer<KubernetesObject> & ObjectCache<KubernetesObject>,
  ): void {
    const w: Watched = { kind, informer, failures: 0, synced: false };
    for (const type of ['add', 'update', 'delete'] as const) {
      informer.on(type, (object) => this.onChange({ kind, type, object }));
    }
    informer.on('connect', () => {
      w.failures = 0;
    });
    informer.on('error', (err?: unknown) => void this.restart(w, err));
    this.watched.push(w);
  }

  private async restart(w: Watched, err: unknown): Promise<void> {
    if (this.stopSignal.signal.aborted) return;
    const delayMs = Math.min(RESTART_BACKOFF.maxMs, RESTART_BACKOFF.initialMs * 2 ** w.failures);
    w.failures++;
    this.log[w.failures === 1 || w.failures % 10 === 0 ? 'warn' : 'debug'](
      { err, kind: w.kind, failures: w.failures, retryInMs: delayMs },
      'watching failed; restarting',
    );
    await sleep(delayMs, undefined, { signal: this.stopSignal.signal }).catch(() => {});
    if (this.stopSignal.signal.aborted) return;
    await w.informer.start().catch((e: unknown) => void this.restart(w, e));
  }

  /** Starts every informer; resolves once each has listed (or failed and is retrying). */
  async start(): Promise<void> {
    await Promise.all(this.watched.map((w) => w.informer.start()));
  }

  stop(): void {
    this.stopSignal.abort();
    for (const w of this.watched) void w.informer.stop();
  }

  private cacheOf(kind: WatchedKind): ObjectCache<KubernetesObject> {
    return this.watched.find((w) => w.kind === kind)!.informer;
  }

  get<T extends HeraldResource>(kind: Kind, namespace: string, name: string): T | undefined {
    return this.cacheOf(kind).get(name, namespace) as T | undefined;
  }

  list<T extends HeraldResource>(kind: Kind, namespace?: string): T[] {
    return this.cacheOf(kind).list(namespace) as T[];
  }

  secret(namespace: string, name: string): Secret | undefined {
    return this.cacheOf('Secret').get(name, namespace) as Secret | undefined;
  }

  secretsIn(namespace: string): Secret[] {
    return this.cacheOf('Secret').list(namespace) as Secret[];
  }
}

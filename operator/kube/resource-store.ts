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

type KindInformer = Informer<KubernetesObject> & ObjectCache<KubernetesObject>;

interface Watched {
  kind: WatchedKind;
  informer: KindInformer;
  make: () => KindInformer;
  failures: number;
  lastFailureAt: number;
  /** Listed without error since created: its cache is the cluster's view, not a gap. */
  synced: boolean;
}

/** Failures this far apart start the backoff again from the beginning. */
const FAILURE_MEMORY_MS = 60_000;

export class ResourceStore {
  private readonly watched: Watched[] = [];
  private readonly stopSignal = new AbortController();

  constructor(
    clients: KubeClients,
    private readonly log: Logger,
    private readonly onChange: (change: StoreChange) => void,
    /** After a restarted informer listed again: deletions while it was away were not seen. */
    private readonly onRelisted: (kind: WatchedKind) => void = () => {},
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
      this.add(kind, () => makeInformer(kc, `/apis/${GROUP}/${VERSION}/${plural}`, list));
    }
    const listSecrets = async (): Promise<KubernetesListObject<KubernetesObject>> =>
      (await core.listSecretForAllNamespaces()) as KubernetesListObject<V1Secret>;
    this.add('Secret', () => makeInformer(kc, '/api/v1/secrets', listSecrets));
  }

  private add(kind: WatchedKind, make: () => KindInformer): void {
    const w: Watched = {
      kind,
      informer: make(),
      make,
      failures: 0,
      lastFailureAt: 0,
      synced: false,
    };
    this.attach(w);
    this.watched.push(w);
  }

  private attach(w: Watched): void {
    const { kind, informer } = w;
    for (const type of ['add', 'update', 'delete'] as const) {
      informer.on(type, (object) => this.onChange({ kind, type, object }));
    }
    informer.on('error', (err?: unknown) => {
      if (w.informer !== informer) return;
      w.synced = false;
      void this.restart(w, err);
    });
  }

  /**
   * Replaces a failed informer with a fresh one after a backoff: a fresh one lists again
   * instead of resuming a watch from a resourceVersion the API server may no longer know.
   */
  private async restart(w: Watched, err: unknown): Promise<void> {
    if (this.stopSignal.signal.aborted) return;
    const now = Date.now();
    if (now - w.lastFailureAt > FAILURE_MEMORY_MS) w.failures = 0;
    w.lastFailureAt = now;
    const delayMs = Math.min(RESTART_BACKOFF.maxMs, RESTART_BACKOFF.initialMs * 2 ** w.failures);
    w.failures++;
    this.log[w.failures === 1 || w.failures % 10 === 0 ? 'warn' : 'debug'](
      { err, kind: w.kind, failures: w.failures, retryInMs: delayMs },
      'watching failed; restarting',
    );
    await sleep(delayMs, undefined, { signal: this.stopSignal.signal }).catch(() => {});
    if (this.stopSignal.signal.aborted) return;
    void w.informer.stop().catch(() => undefined);
    const informer = w.make();
    w.informer = informer;
    this.attach(w);
    await this.startInformer(w, informer);
    if (w.synced) this.onRelisted(w.kind);
  }

  /** Starts every informer; resolves once each has listed (or failed and is retrying). */
  async start(): Promise<void> {
    await Promise.all(this.watched.map((w) => this.startInformer(w, w.informer)));
  }

  /** start() resolves after the list (or after an error was reported): synced only without one. */
  private async startInformer(w: Watched, informer: KindInformer): Promise<void> {
    let failed = false;
    const onError = (): void => {
      failed = true;
    };
    informer.on('error', onError);
    await informer.start();
    informer.off('error', onError);
    if (w.informer === informer && !failed) w.synced = true;
  }

  /**
   * Whether every informer has listed since it last failed. Until then a missing object may
   * just not be listed yet: acting on its absence would delete what exists.
   */
  get synced(): boolean {
    return this.watched.every((w) => w.synced);
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

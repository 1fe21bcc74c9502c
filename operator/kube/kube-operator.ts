/**
 * The operator in Kubernetes mode: informers feed a work queue; workers reconcile one key at
 * a time (reconciler.ts) into the config bucket, JetStream and each resource's status. Only
 * the holder of the leader Lease reconciles; the others wait to take over. Options come from
 * the CLI: nothing here reads env vars or flags.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Registry } from 'prom-client';
import { openConfigBucket, readConfigEntries } from '../../core/config/kv.js';
import {
  openDeliveryStateBucket,
  watchDeliveryStates,
  type DeliveryStateWatch,
} from '../../core/delivery-state.js';
import type { Logger } from '../../core/logging.js';
import { buildNatsConnectOptions, type NatsAuth } from '../../core/nats-connect-options.js';
import { Kind, type HeraldResource } from '../../core/resources/types.js';
import { ConfigKeyPrefix, parseConfigKey } from '../../core/topology.js';
import { typeOwnerKey } from '../compile.js';
import type { AttemptLogLimits } from '../jetstream-config.js';
import { ensureSystemTopology } from '../jetstream-resource-apply.js';
import { ResourceCompiler } from './compile-one.js';
import { EventRecorder } from './event-recorder.js';
import { createKubeClients, loadKubeConfig, type KubeClients } from './kube-api.js';
import { startLeaderElection, type LeaderElector } from './leader-election.js';
import { createOperatorMetrics, ReconcileResult, type OperatorMetrics } from './metrics.js';
import { keyOf, parseKey, Reconciler } from './reconciler.js';
import { ResourceStore, type StoreChange } from './resource-store.js';
import { buildDeliveryStatus } from './status.js';
import { runWorkers, WorkQueue } from './work-queue.js';

export interface KubeOperatorOptions {
  natsUrl: string;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
  configKey: Buffer;
  logger: Logger;
  /** A kubeconfig file; absent: in-cluster service account, else KUBECONFIG / ~/.kube/config. */
  kubeconfigPath?: string;
  /** Lease-based leader election (default on); `false` reconciles at once (one replica). */
  leaderElection?:
    | false
    | {
        namespace: string;
        name?: string;
        identity?: string;
        leaseDurationMs?: number;
        renewDeadlineMs?: number;
        retryPeriodMs?: number;
      };
  /** Parallel reconciles (default 4); a key is never reconciled twice at once. */
  workers?: number;
  /** Every key is reconciled again this often, repairing drift (default 5 min). */
  resyncMs?: number;
  /** Per-key backoff after failures (default 500 ms doubling to 5 min). */
  retry?: { baseDelayMs?: number; maxDelayMs?: number };
  /** Timeout of each JetStream request (default the client's 5 s). */
  requestTimeoutMs?: number;
  /** Replicas of the system streams and KV buckets, kept whenever leadership starts (default 1). */
  systemReplicas?: number;
  /** Limits of HERALD_ATTEMPTS, kept whenever leadership starts (default: the operator's). */
  attemptLog?: AttemptLogLimits;
}

export interface RunningKubeOperator {
  readonly registry: Registry;
  readonly isLeader: boolean;
  /** Gives up the Lease, lets running reconciles finish, and closes the NATS connection. */
  stop(): Promise<void>;
}

/** Secret names a resource refers to: every `secretRef`, `secretRefs[]`, `*SecretRef` in its spec. */
export function secretNamesOf(spec: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(spec)) {
    for (const v of spec) secretNamesOf(v, out);
  } else if (spec && typeof spec === 'object') {
    for (const [k, v] of Object.entries(spec)) {
      if ((k === 'secretRef' || k.endsWith('SecretRef')) && v && typeof v === 'object') {
        const name = (v as { name?: unknown }).name;
        if (typeof name === 'string') out.add(name);
      } else secretNamesOf(v, out);
    }
  }
  return out;
}

class KubeOperator implements RunningKubeOperator {
  readonly metrics: OperatorMetrics;
  private queue = new WorkQueue();
  private store: ResourceStore | undefined;
  private workers: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private elector: LeaderElector | undefined;
  private leading = false;
  private stopped = false;
  private transition: Promise<void> = Promise.resolve();
  private deliveryStates: DeliveryStateWatch | undefined;

  constructor(
    private readonly o: KubeOperatorOptions,
    private readonly log: Logger,
    private readonly clients: KubeClients,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
  ) {
    this.metrics = createOperatorMetrics(() => this.queue.depth);
  }

  get registry(): Registry {
    return this.metrics.registry;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    // After an outage keys may be backing off for minutes: reconcile everything at once.
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type !== 'reconnect' || !this.store) continue;
        this.log.info('NATS reconnected; reconciling everything');
        this.enqueueAll();
      }
    })().catch(() => undefined);
    const le = this.o.leaderElection;
    if (le === false) {
      this.setLeading(true);
      return;
    }
    const identity = le?.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
    this.elector = startLeaderElection({
      clients: this.clients,
      namespace: le?.namespace ?? 'default',
      identity,
      ...(le?.name && { name: le.name }),
      ...(le?.leaseDurationMs && { leaseDurationMs: le.leaseDurationMs }),
      ...(le?.renewDeadlineMs && { renewDeadlineMs: le.renewDeadlineMs }),
      ...(le?.retryPeriodMs && { retryPeriodMs: le.retryPeriodMs }),
      logger: this.log,
      onStartedLeading: () => this.setLeading(true),
      onStoppedLeading: () => this.setLeading(false),
    });
  }

  private setLeading(value: boolean): void {
    this.leading = value;
    this.metrics.leader.set(value ? 1 : 0);
    // Start and stop in order: a quick lose-and-win never runs two sets of workers.
    this.transition = this.transition
      .then(() => (value ? this.startReconciling() : this.stopReconciling()))
      .catch((err: unknown) => this.log.error({ err }, 'leadership transition failed'));
  }

  private async startReconciling(): Promise<void> {
    if (this.stopped || this.store) return;
    this.queue = new WorkQueue(this.o.retry ?? {});
    const store = new ResourceStore(
      this.clients,
      this.log,
      (c) => this.onChange(c),
      () => void this.enqueueOrphanedEntries(),
    );
    this.store = store;
    const compiler = new ResourceCompiler({ configKey: this.o.configKey }, store);
    await this.seedTypeOwners(compiler);
    const events = new EventRecorder(this.clients, this.log, hostname());
    const reconciler = new Reconciler({
      clients: this.clients,
      store,
      compiler,
      jsm: this.jsm,
      kv: this.kv,
      events,
      logger: this.log,
      readDelivery: (ns: string, name: string, generation: number) => {
        const state = this.deliveryStates?.view.get(ns, name)?.state;
        const delivery = buildDeliveryStatus(state, generation);
        const verification = state?.sinkVerification;
        return Promise.resolve({
          ...(delivery && { delivery }),
          ...(verification && {
            sinkVerification: {
              status: verification.status,
              reason: verification.reason,
              message: verification.message,
              ...(verification.sinkOrigin && { sinkOrigin: verification.sinkOrigin }),
            },
          }),
        });
      },
      onReady: (kind, r) => this.observeReady(kind, r),
    });
    void this.ensureSystem();
    await this.watchDeliveryStates();
    await store.start();
    this.enqueueAll();
    this.workers = runWorkers(this.queue, {
      workers: this.o.workers ?? 4,
      reconcile: (key) => reconciler.reconcile(key),
      onError: (key, err, retryInMs) => {
        const failures = this.queue.failuresOf(key);
        this.log[failures <= 1 || failures % 10 === 0 ? 'warn' : 'debug'](
          { err, key, retryInMs, failures },
          'reconcile failed; retrying',
        );
      },
      onDone: (key, ok, seconds) => {
        const { kind } = parseKey(key);
        this.metrics.reconciles.inc({
          kind,
          result: ok ? ReconcileResult.Success : ReconcileResult.Error,
        });
        this.metrics.reconcileDuration.observe({ kind }, seconds);
      },
    });
    const resyncMs = this.o.resyncMs ?? 300_000;
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => {
        this.enqueueAll();
        void this.enqueueOrphanedEntries();
      }, resyncMs);
      this.resyncTimer.unref();
    }
    void this.enqueueOrphanedEntries();
    this.log.info('reconciling');
  }

  /**
   * Endpoint health as the dispatchers record it: each change queues its Subscription, whose
   * status.delivery shows it. Without the bucket (NATS down at start) statuses go without it
   * until the next start; the rest of the operator works.
   */
  private async watchDeliveryStates(): Promise<void> {
    try {
      const kv = await openDeliveryStateBucket(jetstream(this.nc), this.o.systemReplicas ?? 1);
      this.deliveryStates = await watchDeliveryStates(kv, (err) =>
        this.log.warn({ err }, 'watching the delivery state bucket failed'),
      );
      this.deliveryStates.view.on('change', ({ namespace, name }) =>
        this.queue.add(keyOf(Kind.Subscription, namespace, name)),
      );
    } catch (err) {
      this.log.warn({ err }, 'cannot watch the delivery state bucket; status.delivery stays empty');
    }
  }

  private async stopReconciling(): Promise<void> {
    this.deliveryStates?.stop();
    this.deliveryStates = undefined;
    clearInterval(this.resyncTimer);
    this.store?.stop();
    this.store = undefined;
    this.queue.shutDown();
    await this.workers;
    this.workers = undefined;
  }

  /** The system streams and KV buckets (systemReplicas, attemptLog); retried until NATS answers. */
  private async ensureSystem(): Promise<void> {
    for (let delayMs = 500; !this.stopped && this.store; delayMs = Math.min(delayMs * 2, 30_000)) {
      try {
        await ensureSystemTopology(this.jsm, {
          logger: this.log,
          systemReplicas: this.o.systemReplicas ?? 1,
          ...(this.o.attemptLog && { attemptLog: this.o.attemptLog }),
        });
        return;
      } catch (err) {
        this.log.warn({ err, retryInMs: delayMs }, 'cannot ensure the system streams; retrying');
        await new Promise((r) => setTimeout(r, delayMs).unref());
      }
    }
  }

  private async seedTypeOwners(compiler: ResourceCompiler): Promise<void> {
    try {
      const owners = new Map<string, string>();
      for (const [key, text] of await readConfigEntries(this.kv)) {
        if (parseConfigKey(key)?.prefix !== ConfigKeyPrefix.EventType) continue;
        const et = JSON.parse(text) as { namespace: string; name: string; type: string };
        owners.set(typeOwnerKey(et.namespace, et.type), et.name);
      }
      compiler.seedTypeOwners(owners);
    } catch (err) {
      this.log.warn({ err }, 'cannot read the config bucket to seed type ownership');
    }
  }

  /** Config entries whose resource is gone (deleted while no operator ran): reconcile them away. */
  private async enqueueOrphanedEntries(): Promise<void> {
    const store = this.store;
    if (!store?.synced) return; // an unlisted cache would make everything look orphaned
    try {
      const kinds = {
        [ConfigKeyPrefix.EventType]: Kind.EventType,
        [ConfigKeyPrefix.Producer]: Kind.Producer,
        [ConfigKeyPrefix.Subscription]: Kind.Subscription,
      } as Record<string, Kind>;
      for (const key of (await readConfigEntries(this.kv)).keys()) {
        const parsed = parseConfigKey(key);
        const kind = parsed && kinds[parsed.prefix];
        if (!parsed || !kind) continue;
        if (!store.get(kind, parsed.namespace, parsed.name)) {
          this.queue.add(keyOf(kind, parsed.namespace, parsed.name));
        }
      }
    } catch (err) {
      this.log.debug({ err }, 'cannot list the config bucket for orphaned entries');
    }
  }

  private enqueueAll(): void {
    const store = this.store;
    if (!store) return;
    // EventTypes first: Producers and Subscriptions compile against them.
    for (const kind of [Kind.EventType, Kind.Producer, Kind.Subscription]) {
      for (const r of store.list<HeraldResource>(kind)) {
        this.queue.add(keyOf(kind, r.metadata.namespace ?? '', r.metadata.name));
      }
    }
  }

  private onChange(change: StoreChange): void {
    const store = this.store;
    if (!store) return;
    const { namespace = '', name } = change.object.metadata ?? {};
    if (!name) return;
    if (change.kind !== 'Secret') this.queue.add(keyOf(change.kind, namespace, name));
    if (change.kind === 'Secret') {
      this.enqueueDependents(namespace, (r) => secretNamesOf(r.spec).has(name));
    } else if (change.kind === Kind.EventType) {
      const type = (change.object as HeraldResource & { spec: { type?: string } }).spec?.type;
      this.enqueueDependents(namespace, (r) =>
        r.kind === Kind.EventType
          ? r.spec.type === type && r.metadata.name !== name
          : r.spec.eventTypes.includes(name),
      );
    }
  }

  private enqueueDependents(namespace: string, refersTo: (r: HeraldResource) => boolean): void {
    const store = this.store;
    if (!store) return;
    for (const kind of [Kind.EventType, Kind.Producer, Kind.Subscription]) {
      for (const r of store.list<HeraldResource>(kind, namespace)) {
        if (refersTo(r)) this.queue.add(keyOf(kind, namespace, r.metadata.name));
      }
    }
  }

  private observeReady(kind: Kind, r: HeraldResource): void {
    const created = Date.parse(r.metadata.creationTimestamp ?? '');
    if ((r.metadata.generation ?? 1) !== 1 || Number.isNaN(created)) return;
    this.metrics.timeToReady.observe({ kind }, Math.max(0, (Date.now() - created) / 1000));
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.elector?.stop();
    await this.transition;
    await this.stopReconciling();
    await this.nc.drain().catch(() => this.nc.close());
  }
}

/** Connects to NATS and the Kubernetes API, then campaigns for the Lease and reconciles. */
export async function startKubeOperator(
  options: KubeOperatorOptions,
): Promise<RunningKubeOperator> {
  const log = options.logger.child({ mode: 'kubernetes' });
  const clients = createKubeClients(loadKubeConfig(options.kubeconfigPath));
  const nc = await connect({
    servers: options.natsUrl,
    ...buildNatsConnectOptions(options.natsAuth),
    name: 'herald-operator',
    maxReconnectAttempts: -1,
  });
  try {
    const timeout = { ...(options.requestTimeoutMs && { timeout: options.requestTimeoutMs }) };
    const jsm = await jetstreamManager(nc, timeout);
    const kv = await openConfigBucket(jetstream(nc, timeout), options.systemReplicas ?? 1);
    const operator = new KubeOperator(options, log, clients, nc, jsm, kv);
    operator.start();
    return operator;
  } catch (err) {
    await nc.close();
    throw err;
  }
}

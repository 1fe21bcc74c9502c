/**
 * Which replicas of a deployable (brokers, or dispatchers) are alive, so that each can take
 * its share of a rate limit: configured rate / live replicas (docs/architecture.md "Rate limits
 * across replicas").
 *
 * Each replica announces itself under `<role>.<id>` in the KV bucket `herald-replicas`, whose
 * max_age is the announcement's lifetime, and re-announces every third of it. nats-server 2.9
 * has no per-key TTL and sends no notice when an entry ages out, so the live keys are counted
 * again on every announcement; a watch catches joins and clean leaves (a stopping replica
 * deletes its key) at once. When the bucket cannot be used the count falls back to 1 — each
 * replica then applies the whole limit, as if alone — and a warning is logged once.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { JetStreamClient } from '@nats-io/jetstream';
import { KvWatchInclude, Kvm, type KV } from '@nats-io/kv';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from './logging.js';

export const REPLICAS_BUCKET = 'herald-replicas';
export const REPLICAS_BUCKET_DESCRIPTION = 'Herald live replicas (rate-limit shares)';
/** How long an announcement lives without being renewed; a crashed replica counts this long. */
export const DEFAULT_REPLICA_TTL_MS = 15_000;

export const ReplicaRole = { Broker: 'broker', Dispatcher: 'dispatcher' } as const;
export type ReplicaRole = (typeof ReplicaRole)[keyof typeof ReplicaRole];

export interface ReplicaMembershipOptions {
  js: JetStreamClient;
  role: ReplicaRole;
  logger: Logger;
  /** This replica's id in its key; default host name + random suffix (unique per process). */
  id?: string;
  /** Announcement lifetime, used only when this replica creates the bucket. Default 15 s. */
  ttlMs?: number;
  /** Bucket replicas, used only when this replica creates the bucket. Default 1. */
  bucketReplicas?: number;
}

/** A process-unique id usable in a KV key: the host (pod) name keeps it readable. */
export function createReplicaId(): string {
  const host = hostname().replace(/[^-_a-zA-Z0-9]/g, '_') || 'replica';
  return `${host}-${randomBytes(4).toString('hex')}`;
}

/** Opens the bucket, creating it when nobody has yet. */
export function openReplicasBucket(
  js: JetStreamClient,
  ttlMs = DEFAULT_REPLICA_TTL_MS,
  replicas = 1,
): Promise<KV> {
  return new Kvm(js).create(REPLICAS_BUCKET, {
    history: 1,
    ttl: ttlMs,
    replicas,
    description: REPLICAS_BUCKET_DESCRIPTION,
  });
}

export class ReplicaMembership extends EventEmitter<{ change: [count: number] }> {
  readonly role: ReplicaRole;
  readonly key: string;
  private readonly log: Logger;
  private kv: KV | undefined;
  private watch: Awaited<ReturnType<KV['watch']>> | undefined;
  /** The key listing of the refresh running, if any. */
  private listing: Awaited<ReturnType<KV['keys']>> | undefined;
  /** Keys of the live replicas of this role, this one's included. */
  private members = new Set<string>();
  private current = 1;
  private degraded = false;
  private stopped = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(private readonly options: ReplicaMembershipOptions) {
    super();
    this.role = options.role;
    this.key = `${options.role}.${options.id ?? createReplicaId()}`;
    this.log = options.logger.child({ replica: this.key });
  }

  /** Live replicas sharing the limits, this one included; 1 while unknown or unreadable. */
  get count(): number {
    return this.current;
  }

  /** Announces this replica and counts the others, then again every third of the TTL. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.stopped) return;
    const ttlMs = (await this.kv?.status().catch(() => undefined))?.ttl;
    const everyMs = Math.max(100, Math.floor((ttlMs || DEFAULT_REPLICA_TTL_MS) / 3));
    this.timer = setInterval(() => void this.refresh(), everyMs);
    this.timer.unref();
  }

  /**
   * Announces and recounts now. Calls while one runs share a single follow-up run, so a slow
   * NATS never piles them up.
   */
  refresh(): Promise<void> {
    if (this.queued) return this.queued;
    const next = (this.running ?? Promise.resolve()).then(() => {
      this.queued = undefined;
      return this.announceAndCount();
    });
    this.queued = next;
    this.running = next;
    return next;
  }

  /**
   * Stops announcing and deletes this replica's key, so the others get its share at once.
   * Waits at most `waitMs` for NATS: a shutdown must not hang on it (the key then ages out).
   */
  async stop(waitMs = 1_000): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.watch?.stop();
    this.listing?.stop();
    // A refresh still running (its key listing is a consumer of its own) ends first, or it
    // would outlive the connection; an announcement already sent goes first on this
    // connection, so the delete wins.
    const deleted = (async () => {
      await this.running?.catch(() => undefined);
      await this.kv?.delete(this.key).catch(() => undefined);
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([deleted, new Promise((r) => (timer = setTimeout(r, waitMs)))]);
    clearTimeout(timer);
  }

  private async announceAndCount(): Promise<void> {
    if (this.stopped) return;
    try {
      const js = this.options.js;
      this.kv ??= await openReplicasBucket(js, this.options.ttlMs, this.options.bucketReplicas);
      if (this.stopped) return;
      await this.kv.put(this.key, JSON.stringify({ role: this.options.role, at: Date.now() }));
      if (this.watch === undefined) await this.startWatch(this.kv);
      const keys = new Set<string>([this.key]);
      const listing = await this.kv.keys(`${this.options.role}.>`);
      // A listing is an ordered consumer with a heartbeat timer: stop() ends it, or it would
      // outlive the connection (its timer then logs ClosedConnectionError every 5 s).
      this.listing = listing;
      try {
        for await (const k of listing) keys.add(k);
      } finally {
        this.listing = undefined;
      }
      if (this.stopped) return;
      this.members = keys;
      if (this.degraded) {
        this.degraded = false;
        this.log.info('replica membership readable again: rate limits are shared');
      }
      this.setCount(keys.size);
    } catch (err) {
      // Open the bucket afresh next time (it may have been deleted and recreated).
      this.watch?.stop();
      this.watch = undefined;
      this.kv = undefined;
      if (!this.degraded) {
        this.degraded = true;
        this.log.warn(
          { err },
          'cannot read the replica membership: each replica applies the whole rate limits',
        );
      }
      this.setCount(1);
    }
  }

  /** Joins and clean leaves are seen as they happen (ageing out is not: see the header). */
  private async startWatch(kv: KV): Promise<void> {
    const watch = await kv.watch({
      key: `${this.options.role}.>`,
      include: KvWatchInclude.UpdatesOnly,
    });
    // stop() may have run while the watch was being set up: it could not stop this one.
    if (this.stopped) {
      watch.stop();
      return;
    }
    this.watch = watch;
    void (async () => {
      for await (const e of watch) {
        if (e.key === this.key || this.stopped) continue;
        if (e.operation === 'PUT') this.members.add(e.key);
        else this.members.delete(e.key);
        if (!this.degraded) this.setCount(this.members.size);
      }
    })().catch((err: unknown) => this.log.debug({ err }, 'replica membership watch ended'));
  }

  private setCount(count: number): void {
    if (count === this.current || this.stopped) return;
    this.current = count;
    this.log.info({ replicas: count }, 'rate limits shared by %d replica(s)', count);
    this.emit('change', count);
  }
}

/** `herald_<role>_rate_limit_replicas`: the divisor in effect (1 = alone or fallback). */
export function registerReplicaGauge(registry: Registry, membership: ReplicaMembership): void {
  new Gauge({
    name: `herald_${membership.role}_rate_limit_replicas`,
    help: 'Live replicas sharing the rate limits: each applies limit / this (1 = alone or membership unreadable)',
    registers: [registry],
    collect() {
      this.set(membership.count);
    },
  });
}

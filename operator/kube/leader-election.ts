/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection: the
 * holder renews the Lease every retry period; another candidate takes it over only after it
 * has seen the same renewTime for a whole lease duration (by its own clock, so clock skew
 * between pods does not matter); a holder that cannot renew within the renew deadline stops
 * leading. Writes carry the Lease's resourceVersion, so two candidates never both win.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { V1MicroTime, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../../core/logging.js';
import { isConflict, isNotFound, type KubeClients } from './kube-api.js';

export interface LeaderElectionOptions {
  clients: KubeClients;
  namespace: string;
  /** The Lease's name (default `herald-operator`). */
  name?: string;
  /** This candidate, unique per process (e.g. pod name + random suffix). */
  identity: string;
  /** How long a Lease holds without renewal (default 15 s). */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long steps down (default 10 s). */
  renewDeadlineMs?: number;
  /** Time between tries (default 2 s). */
  retryPeriodMs?: number;
  logger: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

export interface LeaderElector {
  readonly isLeader: boolean;
  /** Stops trying; a leader releases the Lease so the next candidate need not wait it out. */
  stop(): Promise<void>;
}

export function startLeaderElection(options: LeaderElectionOptions): LeaderElector {
  const elector = new LeaseElector(options);
  void elector.run();
  return elector;
}

class LeaseElector implements LeaderElector {
  private leading = false;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  /** The holder's renewTime last seen, and when this process saw it change. */
  private observed: { renewTime: string; at: number } | undefined;
  private lastRenewal = 0;
  private readonly name: string;
  private readonly durationMs: number;
  private readonly deadlineMs: number;
  private readonly periodMs: number;

  constructor(private readonly o: LeaderElectionOptions) {
    this.name = o.name ?? 'herald-operator';
    this.durationMs = o.leaseDurationMs ?? 15_000;
    this.deadlineMs = o.renewDeadlineMs ?? 10_000;
    this.periodMs = o.retryPeriodMs ?? 2_000;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (!this.abort.signal.aborted) {
        let held = false;
        try {
          held = await this.tryAcquireOrRenew();
        } catch (err) {
          this.o.logger.warn(
            { err, lease: this.name },
            'leader election: cannot read or write the Lease',
          );
        }
        const now = Date.now();
        if (held) {
          this.lastRenewal = now;
          if (!this.leading) this.setLeading(true);
        } else if (
          this.leading &&
          (this.lostToAnother || now - this.lastRenewal >= this.deadlineMs)
        ) {
          this.setLeading(false);
        }
        await sleep(this.periodMs, undefined, { signal: this.abort.signal }).catch(() => {});
      }
    })();
    return this.running;
  }

  /** Set when a read showed another holder: a leader that sees that steps down at once. */
  private lostToAnother = false;

  private setLeading(value: boolean): void {
    this.leading = value;
    this.o.logger.info(
      { lease: this.name, identity: this.o.identity },
      value ? 'became the leader' : 'stopped leading',
    );
    if (value) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { coordination } = this.o.clients;
    const { namespace, identity } = this.o;
    const now = new V1MicroTime();
    const durationSeconds = Math.max(1, Math.ceil(this.durationMs / 1000));
    this.lostToAnother = false;
    let lease: V1Lease;
    try {
      lease = await coordination.readNamespacedLease({ name: this.name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await coordination.createNamespacedLease({
          namespace,
          body: {
            metadata: { name: this.name, namespace },
            spec: {
              holderIdentity: identity,
              leaseDurationSeconds: durationSeconds,
              acquireTime: now,
              renewTime: now,
              leaseTransitions: 0,
            },
          },
        });
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false; // another candidate created it first
        throw createErr;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const renewTime = spec.renewTime ? new Date(spec.renewTime).toISOString() : '';
    if (this.observed?.renewTime !== renewTime) this.observed = { renewTime, at: Date.now() };
    const mine = holder === identity;
    const durationMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    const expired = holder === '' || Date.now() - this.observed.at >= durationMs;
    if (!mine && !expired) {
      this.lostToAnother = true;
      this.o.logger.debug(
        { lease: this.name, holder, renewTime, unchangedForMs: Date.now() - this.observed.at },
        'leader election: held by another',
      );
      return false;
    }
    const transitions = (spec.leaseTransitions ?? 0) + (mine ? 0 : 1);
    try {
      await coordination.replaceNamespacedLease({
        name: this.name,
        namespace,
        body: {
          ...lease,
          spec: {
            ...spec,
            holderIdentity: identity,
            leaseDurationSeconds: durationSeconds,
            acquireTime: mine && spec.acquireTime ? spec.acquireTime : now,
            renewTime: now,
            leaseTransitions: transitions,
          },
        },
      });
    } catch (err) {
      if (isConflict(err)) return false; // someone else wrote it first: re-read next time
      throw err;
    }
    return true;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    if (!this.leading) return;
    this.setLeading(false);
    // Release: an empty holder lets the next candidate take over without waiting.
    try {
      const { coordination } = this.o.clients;
      const lease = await coordination.readNamespacedLease({
        name: this.name,
        namespace: this.o.namespace,
      });
      if (lease.spec?.holderIdentity !== this.o.identity) return;
      await coordination.replaceNamespacedLease({
        name: this.name,
        namespace: this.o.namespace,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: '' } },
      });
    } catch (err) {
      this.o.logger.warn({ err, lease: this.name }, 'leader election: cannot release the Lease');
    }
  }
}

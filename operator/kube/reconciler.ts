/**
 * One reconcile pass per key (`Kind/namespace/name`), the NACK controller's shape:
 *   not found → remove what Herald made for it from the config; done.
 *   deleting → clean up (KV entry; consumers; the stream only under deletionPolicy Delete),
 *              then drop the finalizer.
 *   no finalizer → add it; requeue (one change per pass).
 *   else → compile → JetStream (ensure, change only on drift) → KV entry → status, written
 *          only when it changed.
 * Level-based and idempotent: every pass starts from what the informers and JetStream say now.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { CompiledEntry, CompiledSubscription } from '../../core/config/model.js';
import { serializeCompiledConfig } from '../../core/config/kv.js';
import type { Logger } from '../../core/logging.js';
import {
  Kind,
  type EventType,
  type HeraldResource,
  type Producer,
  type Subscription,
  type Condition,
} from '../../core/resources/types.js';
import { ConfigKeyPrefix, configKeyFor, streamNameFor } from '../../core/topology.js';
import { canonicalJson } from '../compile.js';
import {
  ensureEventTypeStream,
  ensureSubscriptionConsumers,
  removeEventTypeStream,
  removeSubscriptionConsumers,
} from '../jetstream-resource-apply.js';
import type { ResourceCompiler } from './compile-one.js';
import { ConditionType, findCondition } from './conditions.js';
import type { EventRecorder } from './event-recorder.js';
import {
  FINALIZER,
  isNotFound,
  patchFinalizers,
  patchStatus,
  type KubeClients,
} from './kube-api.js';
import type { ResourceStore } from './resource-store.js';
import {
  buildEventTypeStatus,
  buildProducerStatus,
  buildSubscriptionStatus,
  type SinkVerificationReport,
  describeProblems,
  type DeliveryStatus,
  type TopologyOutcome,
} from './status.js';
import type { ReconcileOutcome } from './work-queue.js';

export interface ReconcilerDeps {
  clients: KubeClients;
  store: ResourceStore;
  compiler: ResourceCompiler;
  jsm: JetStreamManager;
  kv: KV;
  events: EventRecorder;
  logger: Logger;
  /** What dispatchers report for a Subscription (delivery health, sink verification). */
  readDelivery?: (
    namespace: string,
    name: string,
    generation: number,
  ) => Promise<DeliveryReport | undefined>;
  now?: () => Date;
  /** Told when a resource first turns Ready at a generation (time-to-Ready metric). */
  onReady?: (kind: Kind, resource: HeraldResource) => void;
}

export interface DeliveryReport {
  delivery?: DeliveryStatus;
  /** The webhook validation handshake as the dispatchers last recorded it. */
  sinkVerification?: SinkVerificationReport;
}

/** NATS could not be reached: the status says so, and the key backs off. */
export class NatsUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`NATS unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'NatsUnavailableError';
  }
}

export function keyOf(kind: Kind, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function parseKey(key: string): { kind: Kind; namespace: string; name: string } {
  const [kind, namespace = '', name = ''] = key.split('/');
  return { kind: kind as Kind, namespace, name };
}

const PREFIX_OF = {
  EventType: ConfigKeyPrefix.EventType,
  Producer: ConfigKeyPrefix.Producer,
  Subscription: ConfigKeyPrefix.Subscription,
} as const satisfies Record<Kind, ConfigKeyPrefix>;

export class Reconciler {
  private readonly log: Logger;
  constructor(private readonly d: ReconcilerDeps) {
    this.log = d.logger;
  }

  async reconcile(key: string): Promise<ReconcileOutcome | void> {
    // A cache that has not listed since its watch failed cannot tell "deleted" from "not
    // listed yet", nor a missing Secret from an unlisted one: wait for it.
    if (!this.d.store.synced) return { requeueAfterMs: 500 };
    const { kind, namespace, name } = parseKey(key);
    const obj = this.d.store.get<HeraldResource>(kind, namespace, name);
    if (!obj) {
      await this.nats(() => this.removeArtifacts(kind, namespace, name, undefined));
      return;
    }
    const finalizers = obj.metadata.finalizers ?? [];
    if (obj.metadata.deletionTimestamp) {
      if (!finalizers.includes(FINALIZER)) return;
      await this.nats(() => this.removeArtifacts(kind, namespace, name, obj));
      await this.dropFinalizer(obj, finalizers);
      return;
    }
    if (!finalizers.includes(FINALIZER)) {
      await patchFinalizers(
        this.d.clients,
        kind,
        namespace,
        name,
        [...finalizers, FINALIZER],
        obj.metadata.resourceVersion,
      );
      return { requeue: true };
    }
    switch (kind) {
      case Kind.EventType:
        return this.reconcileEventType(obj as EventType);
      case Kind.Producer:
        return this.reconcileProducer(obj as Producer);
      case Kind.Subscription:
        return this.reconcileSubscription(obj as Subscription);
    }
  }

  private async reconcileEventType(r: EventType): Promise<void> {
    const { compiled, problems } = this.d.compiler.compileEventType(r);
    let topology: TopologyOutcome = { kind: 'skipped' };
    let unavailable: unknown;
    try {
      if (compiled) {
        const report = await ensureEventTypeStream(this.d.jsm, compiled, { logger: this.log });
        topology = { kind: 'applied', report };
        // The config only once the stream exists: no broker accepts a type it cannot store.
        if (report.failed.length === 0) await this.writeEntry(Kind.EventType, compiled);
      } else {
        await this.deleteEntry(Kind.EventType, r.metadata.namespace ?? '', r.metadata.name);
      }
    } catch (err) {
      if (err instanceof JetStreamApiError) throw err;
      unavailable = err;
      topology = { kind: 'unavailable', message: errorText(err) };
    }
    const status = buildEventTypeStatus(this.statusInput(r), problems, compiled, topology);
    await this.writeStatus(
      Kind.EventType,
      r,
      status,
      problems.length > 0 ? describeProblems(problems) : undefined,
    );
    if (unavailable) throw new NatsUnavailableError(unavailable);
  }

  private async reconcileProducer(r: Producer): Promise<void> {
    const { compiled, problems } = this.d.compiler.compileProducer(r);
    let unavailable: unknown;
    try {
      await (compiled
        ? this.writeEntry(Kind.Producer, compiled)
        : this.deleteEntry(Kind.Producer, r.metadata.namespace ?? '', r.metadata.name));
    } catch (err) {
      if (err instanceof JetStreamApiError) throw err;
      unavailable = err;
    }
    const status = buildProducerStatus(
      this.statusInput(r),
      problems,
      unavailable ? { kind: 'unavailable', message: errorText(unavailable) } : undefined,
    );
    await this.writeStatus(
      Kind.Producer,
      r,
      status,
      problems.length > 0 ? describeProblems(problems) : undefined,
    );
    if (unavailable) throw new NatsUnavailableError(unavailable);
  }

  private async reconcileSubscription(r: Subscription): Promise<ReconcileOutcome | void> {
    const { compiled, problems } = this.d.compiler.compileSubscription(r);
    const namespace = r.metadata.namespace ?? '';
    let topology: TopologyOutcome = { kind: 'skipped' };
    let unavailable: unknown;
    let report: DeliveryReport | undefined;
    try {
      if (compiled) {
        const applied = await ensureSubscriptionConsumers(this.d.jsm, compiled, {
          logger: this.log,
          previousStreams: streamsInStatus(r),
        });
        topology = { kind: 'applied', report: applied };
        if (applied.failed.length === 0) await this.writeEntry(Kind.Subscription, compiled);
      } else {
        // Left out of the config (dispatchers stop), consumers kept: fixing it resumes in place.
        await this.deleteEntry(Kind.Subscription, namespace, r.metadata.name);
      }
      report = await this.d.readDelivery?.(namespace, r.metadata.name, r.metadata.generation ?? 1);
    } catch (err) {
      if (err instanceof JetStreamApiError) throw err;
      unavailable = err;
      topology = { kind: 'unavailable', message: errorText(err) };
    }
    const verification = r.spec.sink.verification ?? 'none';
    const status = buildSubscriptionStatus(
      this.statusInput(r),
      problems,
      compiled,
      topology,
      {
        verification,
        ...(originOf(r.spec.sink.uri) && { origin: originOf(r.spec.sink.uri) }),
        ...(report?.sinkVerification && { report: report.sinkVerification }),
      },
      report?.delivery,
    );
    await this.writeStatus(
      Kind.Subscription,
      r,
      status,
      problems.length > 0 ? describeProblems(problems) : undefined,
    );
    if (unavailable) throw new NatsUnavailableError(unavailable);
  }

  /** Removes the config entry and the JetStream objects Herald made for a resource. */
  private async removeArtifacts(
    kind: Kind,
    namespace: string,
    name: string,
    obj: HeraldResource | undefined,
  ): Promise<void> {
    // The streams its consumers may be on: from its config entry, status and spec.
    const streams = new Set<string>();
    if (kind === Kind.Subscription) {
      const entry = await this.d.kv.get(configKeyFor(PREFIX_OF[kind], namespace, name));
      if (entry?.operation === 'PUT') {
        for (const c of entry.json<CompiledSubscription>().consumers) streams.add(c.stream);
      }
      if (obj) {
        for (const s of streamsInStatus(obj)) streams.add(s);
        for (const et of (obj as Subscription).spec.eventTypes) {
          streams.add(streamNameFor(namespace, et));
        }
      }
    }
    await this.deleteEntry(kind, namespace, name);
    if (kind === Kind.Subscription) {
      const report = await removeSubscriptionConsumers(this.d.jsm, namespace, name, streams, {
        logger: this.log,
      });
      if (obj && report.deleted.length > 0) {
        this.d.events.record(
          obj,
          'Normal',
          'ConsumersDeleted',
          `deleted ${report.deleted.length} JetStream consumer(s)`,
        );
      }
    } else if (kind === Kind.EventType && obj) {
      const et = obj as EventType;
      const stream = streamNameFor(namespace, name);
      if ((et.spec.deletionPolicy ?? 'Retain') === 'Delete') {
        await removeEventTypeStream(this.d.jsm, stream, { logger: this.log });
        this.d.events.record(
          obj,
          'Normal',
          'StreamDeleted',
          `stream ${stream} deleted (deletionPolicy Delete)`,
        );
      } else {
        this.d.events.record(
          obj,
          'Normal',
          'StreamRetained',
          `stream ${stream} kept with its events (deletionPolicy Retain)`,
        );
      }
    }
  }

  private async dropFinalizer(obj: HeraldResource, finalizers: string[]): Promise<void> {
    const rest = finalizers.filter((f) => f !== FINALIZER);
    try {
      await patchFinalizers(
        this.d.clients,
        obj.kind,
        obj.metadata.namespace ?? '',
        obj.metadata.name,
        rest,
        obj.metadata.resourceVersion,
      );
    } catch (err) {
      if (!isNotFound(err)) throw err; // gone already: nothing left to hold
    }
  }

  private async writeEntry(kind: Kind, entry: CompiledEntry): Promise<void> {
    const key = configKeyFor(PREFIX_OF[kind], entry.namespace, entry.name);
    const text = serializeCompiledConfig({
      eventTypes: kind === Kind.EventType ? [entry as never] : [],
      producers: kind === Kind.Producer ? [entry as never] : [],
      subscriptions: kind === Kind.Subscription ? [entry as never] : [],
    }).get(key)!;
    const current = await this.d.kv.get(key);
    if (current?.operation === 'PUT' && current.string() === text) return;
    await this.d.kv.put(key, text);
    this.log.info({ key }, 'config entry written');
  }

  private async deleteEntry(kind: Kind, namespace: string, name: string): Promise<void> {
    const key = configKeyFor(PREFIX_OF[kind], namespace, name);
    const current = await this.d.kv.get(key);
    if (!current || current.operation !== 'PUT') return;
    await this.d.kv.delete(key);
    this.log.info({ key }, 'config entry deleted');
  }

  private statusInput(r: HeraldResource): {
    generation: number;
    previous: Condition[] | undefined;
    now: Date;
  } {
    return {
      generation: r.metadata.generation ?? 1,
      previous: (r.status?.conditions as Condition[] | undefined) ?? undefined,
      now: this.d.now?.() ?? new Date(),
    };
  }

  /** Writes status only when it differs from what the object carries; records transitions. */
  private async writeStatus(
    kind: Kind,
    r: HeraldResource,
    status: Record<string, unknown>,
    problem: string | undefined,
  ): Promise<void> {
    if (canonicalJson(status) === canonicalJson(r.status ?? {})) return;
    await patchStatus(
      this.d.clients,
      kind,
      r.metadata.namespace ?? '',
      r.metadata.name,
      status,
      r.status ?? {},
    );
    const before = findCondition(
      r.status?.conditions as Condition[] | undefined,
      ConditionType.Ready,
    );
    const after = findCondition(status.conditions as Condition[], ConditionType.Ready);
    if (!after || (before?.status === after.status && before.reason === after.reason)) return;
    if (after.status === 'True') {
      this.d.events.record(r, 'Normal', 'Ready', `${kind} is ready`);
      this.d.onReady?.(kind, r);
    } else {
      this.d.events.record(r, 'Warning', after.reason, after.message || problem || 'not ready');
    }
  }

  /** Runs a NATS step; a failure that is not a JetStream API answer means NATS is unreachable. */
  private async nats<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (err) {
      if (err instanceof JetStreamApiError) throw err;
      throw new NatsUnavailableError(err);
    }
  }
}

/** The streams a resource's status lists consumers on. */
function streamsInStatus(r: HeraldResource): string[] {
  const consumers = r.status?.consumers;
  if (!Array.isArray(consumers)) return [];
  return consumers
    .map((c: unknown) => (c as { stream?: unknown }).stream)
    .filter((s): s is string => typeof s === 'string');
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** scheme://host:port of a sink URI, as the dispatcher names sinks; undefined if unparsable. */
function originOf(uri: string): string | undefined {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}

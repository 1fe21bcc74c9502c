/**
 * Makes JetStream match the compiled config, NACK-style: read each object, create it when
 * missing, update it only when an updatable field drifted, and leave it alone otherwise, so
 * an apply with nothing to do sends only reads. Client 3.4 has no add-or-update for
 * consumers (DESIGN.md §8), hence info() then add()/update(), branching on JetStream codes.
 *
 * Two phases, so the operator can write the config to KV between them: ensureTopology
 * (create and update) before the KV write, so a broker never accepts a type whose stream does
 * not exist yet; pruneTopology (delete) after it, so nothing is deleted that the config in KV
 * still uses. What to prune is read from JetStream itself — every HERALD_EVT_* stream and
 * Herald consumer not wanted by the config — never from the previous config, so deletions an
 * apply could not finish are found again by the next one.
 *
 * A JetStream API error concerns one object (a refused config): it is reported and the rest
 * still applies. Anything else (timeouts, a closed connection) is thrown, for the caller to
 * retry the whole apply. The report and that rule: jetstream-report.ts; the KV buckets:
 * jetstream-buckets.ts.
 */
import { JetStreamApiCodes, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import type { CompiledConfig } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import { consumerNameFor, EVENT_STREAM_PREFIX } from '../core/topology.js';
import {
  ensureConfigBucket,
  ensureDeliveryStateBucket,
  ensureReplicasBucket,
  ensureLedgerBucket,
} from './jetstream-buckets.js';
import {
  buildConsumerConfig,
  buildStreamConfig,
  buildSystemConsumerConfigs,
  buildSystemStreamConfigs,
  findConsumerConflicts,
  findConsumerDrift,
  findStreamConflicts,
  findStreamDrift,
  parseConsumerDescription,
  parseEventTypeStreamDescription,
  pickConsumerUpdate,
  type AttemptLogLimits,
  type DeletionPolicy,
  type DesiredConsumer,
  type DesiredStream,
} from './jetstream-config.js';
import {
  hasCode,
  mergeReports,
  ReportRecorder,
  type ApplyReport,
  type TopologyChange,
} from './jetstream-report.js';

// Where operator/main.ts, kube/status.ts and the tests have always found them.
export { emptyReport, isReportEmpty, mergeReports, type ApplyReport } from './jetstream-report.js';

export interface ApplyTopologyOptions {
  logger?: Logger;
  /**
   * Resources that exist but were left out of the config because of problems (`ns/name`).
   * Their streams and consumers are kept, so fixing a typo resumes where delivery stopped
   * instead of losing the consumer's position or the stream's events.
   */
  leftOut?: { eventTypes?: string[]; subscriptions?: string[] };
  /**
   * Whether to delete consumers and streams (default true). Off when the source could not be
   * read whole (a YAML syntax error): a resource missing from a partial view is not removed.
   */
  prune?: boolean;
  /**
   * Replicas of the system streams (HERALD_DLQ, HERALD_ATTEMPTS, HERALD_REDRIVE) and the KV
   * buckets herald-config, herald-delivered and herald-delivery-state (default 1). Existing
   * ones are updated to it, which scales them in a cluster.
   */
  systemReplicas?: number;
  /**
   * Dedup window (TTL) of the delivery ledger bucket `herald-delivered`. Given, the bucket is
   * kept at it; absent, a missing bucket is created with the default (1 h) and an existing
   * one keeps whatever TTL it has, so one tuned with `nats` is not undone.
   */
  ledgerWindowMs?: number;
  /** Limits of HERALD_ATTEMPTS (default SystemStreamLimits.attempts); existing ones are updated. */
  attemptLog?: AttemptLogLimits;
  /**
   * deletionPolicy per EventType stream as this operator last compiled it, including streams
   * whose EventType has vanished since. It wins over the marker in the stream's description
   * (which is what survives an operator restart); with neither, a stream is retained.
   */
  deletionPolicies?: ReadonlyMap<string, DeletionPolicy>;
  /**
   * Retained streams already reported in `kept`: not reported again. Updated in place; a
   * stream that is wanted again leaves it. Without it, every apply reports every kept stream.
   */
  reportedKept?: Set<string>;
}

/** Per-object steps for streams and consumers (also used by jetstream-resource-apply.ts). */
export class TopologyApplier extends ReportRecorder {
  /** Streams that could not be made to exist: their consumers are skipped. */
  private readonly missingStreams = new Set<string>();

  constructor(
    private readonly jsm: JetStreamManager,
    log: Logger | undefined,
  ) {
    super(log);
  }

  async ensureStream(desired: DesiredStream): Promise<void> {
    const ref: TopologyChange = { object: 'stream', stream: desired.name };
    const ok = await this.guard(ref, async () => {
      let actual: StreamConfig;
      try {
        actual = (await this.jsm.streams.info(desired.name)).config;
      } catch (err) {
        if (!hasCode(err, JetStreamApiCodes.StreamNotFound)) throw err;
        await this.jsm.streams.add(desired);
        this.record('created', ref, 'stream created');
        return;
      }
      const conflicts = findStreamConflicts(desired, actual);
      if (conflicts.length > 0) {
        const message = `cannot change ${conflicts.join(', ')} of an existing stream; delete it to recreate`;
        this.record(
          'conflicts',
          { ...ref, fields: conflicts, message },
          'stream differs in fixed fields',
        );
      }
      const drift = findStreamDrift(desired, actual);
      if (drift.length === 0) return;
      const { name: _name, storage: _s, retention: _r, ...update } = desired;
      await this.jsm.streams.update(desired.name, update);
      this.record('updated', { ...ref, fields: drift }, 'stream updated');
      await this.trimToSubjectCap(desired, actual);
    });
    if (!ok) this.missingStreams.add(desired.name);
  }

  /**
   * nats-server 2.9 applies a first per-subject cap (where there was none) only at its next
   * restart: until then a subject already over it stays over. Lowering a cap trims at once.
   * So when a cap first appears, subjects over it are trimmed here, oldest messages first.
   */
  private async trimToSubjectCap(desired: DesiredStream, actual: StreamConfig): Promise<void> {
    const cap = desired.max_msgs_per_subject ?? -1;
    if (cap <= 0 || (actual.max_msgs_per_subject ?? -1) > 0) return;
    const info = await this.jsm.streams.info(desired.name, { subjects_filter: '>' });
    let subjects = 0;
    let purged = 0;
    for (const [subject, count] of Object.entries(info.state.subjects ?? {})) {
      if (count <= cap) continue;
      subjects++;
      purged += (await this.jsm.streams.purge(desired.name, { filter: subject, keep: cap })).purged;
    }
    if (subjects > 0) {
      this.log?.info(
        { stream: desired.name, subjects, purged, maxPerSubject: cap },
        'trimmed subjects over the new per-subject cap',
      );
    }
  }

  async ensureConsumer(stream: string, desired: DesiredConsumer): Promise<void> {
    if (this.missingStreams.has(stream)) return;
    const ref: TopologyChange = { object: 'consumer', stream, consumer: desired.durable_name };
    await this.guard(ref, async () => {
      let actual;
      try {
        actual = (await this.jsm.consumers.info(stream, desired.durable_name)).config;
      } catch (err) {
        if (!hasCode(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
        await this.jsm.consumers.add(stream, desired);
        this.record('created', ref, 'consumer created');
        return;
      }
      const conflicts = findConsumerConflicts(desired, actual);
      if (conflicts.length > 0) {
        const message = `cannot change ${conflicts.join(', ')} of an existing consumer; delete it to recreate`;
        this.record(
          'conflicts',
          { ...ref, fields: conflicts, message },
          'consumer differs in fixed fields',
        );
      }
      // deliver_policy/opt_start_time are not compared: JetStream cannot update them, and the
      // consumer's position matters more than a changed startFrom.
      const drift = findConsumerDrift(desired, actual);
      if (drift.length === 0) return;
      await this.jsm.consumers.update(stream, desired.durable_name, pickConsumerUpdate(desired));
      this.record('updated', { ...ref, fields: drift }, 'consumer updated');
    });
  }

  async removeStream(stream: string): Promise<boolean> {
    const ref: TopologyChange = { object: 'stream', stream };
    let deleted = false;
    await this.guard(ref, async () => {
      try {
        await this.jsm.streams.delete(stream);
      } catch (err) {
        if (hasCode(err, JetStreamApiCodes.StreamNotFound)) return;
        throw err;
      }
      deleted = true;
      this.record('deleted', ref, 'stream deleted');
    });
    return deleted;
  }

  keepStream(stream: string, message: string): void {
    this.record('kept', { object: 'stream', stream, message }, 'stream kept');
  }

  /** Herald's EventType streams (by name prefix and description) with what their description says. */
  async listEventTypeStreams(): Promise<
    { name: string; id: string; deletionPolicy?: DeletionPolicy }[]
  > {
    const found: { name: string; id: string; deletionPolicy?: DeletionPolicy }[] = [];
    for await (const si of this.jsm.streams.list()) {
      if (!si.config.name.startsWith(EVENT_STREAM_PREFIX)) continue;
      const parsed = parseEventTypeStreamDescription(si.config.description);
      if (parsed) found.push({ name: si.config.name, ...parsed });
    }
    return found;
  }

  /**
   * Deletes the consumers Subscription `namespace/name` owns (by description) on the given
   * streams. The caller names the streams it may have used (from its status and spec): listing
   * every stream per Subscription would make a cold start quadratic.
   */
  async removeOwnedConsumers(
    namespace: string,
    name: string,
    onStreams: Iterable<string>,
  ): Promise<void> {
    const owner = `${namespace}/${name}`;
    const durable = consumerNameFor(name);
    for (const stream of new Set(onStreams)) {
      const ref: TopologyChange = { object: 'consumer', stream, consumer: durable };
      await this.guard(ref, async () => {
        try {
          const info = await this.jsm.consumers.info(stream, durable);
          if (parseConsumerDescription(info.config.description) !== owner) return;
          await this.jsm.consumers.delete(stream, durable);
        } catch (err) {
          if (hasCode(err, JetStreamApiCodes.ConsumerNotFound)) return;
          if (hasCode(err, JetStreamApiCodes.StreamNotFound)) return;
          throw err;
        }
        this.record('deleted', ref, 'consumer deleted');
      });
    }
  }

  /**
   * Deletes Herald's durables on `stream` that are neither wanted nor kept (`keep` holds the
   * `<ns>/<name>` of Subscriptions that are declared but broken).
   */
  async removeUnwantedConsumers(
    stream: string,
    wanted: Set<string>,
    keep: Set<string>,
  ): Promise<void> {
    const unwanted: string[] = [];
    const listed = await this.guard({ object: 'stream', stream }, async () => {
      try {
        for await (const ci of this.jsm.consumers.list(stream)) {
          const durable = ci.config.durable_name;
          if (!durable || wanted.has(durable)) continue;
          const owner = parseConsumerDescription(ci.config.description);
          if (owner === undefined || keep.has(owner)) continue;
          unwanted.push(durable);
        }
      } catch (err) {
        if (!hasCode(err, JetStreamApiCodes.StreamNotFound)) throw err;
      }
    });
    if (!listed) return;
    for (const durable of unwanted) {
      const ref: TopologyChange = { object: 'consumer', stream, consumer: durable };
      await this.guard(ref, async () => {
        try {
          await this.jsm.consumers.delete(stream, durable);
        } catch (err) {
          if (hasCode(err, JetStreamApiCodes.ConsumerNotFound)) return;
          throw err;
        }
        this.record('deleted', ref, 'consumer deleted');
      });
    }
  }
}

/**
 * Phase 1: ensures the system streams and KV buckets, a stream per EventType and
 * a durable consumer per (Subscription, EventType). Creates and updates only; deletes nothing.
 */
export async function ensureTopology(
  jsm: JetStreamManager,
  config: CompiledConfig,
  options: Pick<
    ApplyTopologyOptions,
    'logger' | 'systemReplicas' | 'ledgerWindowMs' | 'attemptLog'
  > = {},
): Promise<ApplyReport> {
  const applier = new TopologyApplier(jsm, options.logger);
  for (const s of buildSystemStreamConfigs(options.systemReplicas, options.attemptLog))
    await applier.ensureStream(s);
  for (const c of buildSystemConsumerConfigs()) await applier.ensureConsumer(c.stream, c.consumer);
  await ensureConfigBucket(jsm, applier, options.systemReplicas ?? 1);
  await ensureLedgerBucket(jsm, applier, options.systemReplicas ?? 1, options.ledgerWindowMs);
  await ensureDeliveryStateBucket(jsm, applier, options.systemReplicas ?? 1);
  await ensureReplicasBucket(jsm, applier, options.systemReplicas ?? 1);
  for (const et of config.eventTypes) await applier.ensureStream(buildStreamConfig(et));
  for (const sub of config.subscriptions) {
    for (const c of sub.consumers)
      await applier.ensureConsumer(c.stream, buildConsumerConfig(sub, c));
  }
  return applier.report;
}

/**
 * Phase 2, after the config is in KV: removes what the config no longer wants, as found in
 * JetStream. On every Herald EventType stream, Herald consumers no Subscription wants are
 * deleted (those of declared-but-broken Subscriptions are kept). The stream of a vanished
 * EventType is deleted when its deletionPolicy — from `deletionPolicies`, else the marker in
 * the stream's description — is Delete, and kept otherwise; a declared-but-broken EventType's
 * stream is always kept. With `prune: false`, nothing at all.
 */
export async function pruneTopology(
  jsm: JetStreamManager,
  config: CompiledConfig,
  options: ApplyTopologyOptions = {},
): Promise<ApplyReport> {
  const applier = new TopologyApplier(jsm, options.logger);
  if (options.prune === false) return applier.report;
  const wantedStreams = new Set(config.eventTypes.map((et) => et.stream));
  const wantedConsumers = new Map<string, Set<string>>();
  for (const sub of config.subscriptions) {
    for (const c of sub.consumers) {
      const durables = wantedConsumers.get(c.stream) ?? new Set<string>();
      wantedConsumers.set(c.stream, durables.add(c.durable));
    }
  }
  const leftOutEventTypes = new Set(options.leftOut?.eventTypes ?? []);
  const keepSubscriptions = new Set(options.leftOut?.subscriptions ?? []);

  for (const stream of await applier.listEventTypeStreams()) {
    if (wantedStreams.has(stream.name)) {
      options.reportedKept?.delete(stream.name);
    } else if (!leftOutEventTypes.has(stream.id)) {
      const policy =
        options.deletionPolicies?.get(stream.name) ?? stream.deletionPolicy ?? 'Retain';
      if (policy === 'Delete') {
        if (await applier.removeStream(stream.name)) continue; // its consumers went with it
      } else if (!options.reportedKept?.has(stream.name)) {
        applier.keepStream(
          stream.name,
          `EventType ${stream.id} was removed; its stream is kept (deletionPolicy ${policy})`,
        );
        options.reportedKept?.add(stream.name);
      }
    }
    await applier.removeUnwantedConsumers(
      stream.name,
      wantedConsumers.get(stream.name) ?? new Set(),
      keepSubscriptions,
    );
  }
  return applier.report;
}

/** Both phases back to back, for callers with no KV write in between (tests, tools). */
export async function applyTopology(
  jsm: JetStreamManager,
  config: CompiledConfig,
  options: ApplyTopologyOptions = {},
): Promise<ApplyReport> {
  const ensured = await ensureTopology(jsm, config, options);
  return mergeReports(ensured, await pruneTopology(jsm, config, options));
}

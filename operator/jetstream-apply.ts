/**
 * Makes JetStream match the compiled config, NACK-style: read each object, create it when
 * missing, update it only when an updatable field drifted, and leave it alone otherwise, so
 * an apply with nothing to do sends only reads. Client 3.4 has no add-or-update for
 * consumers (DESIGN.md §8), hence info() then add()/update(), branching on JetStream codes.
 *
 * A JetStream API error concerns one object (a refused config): it is reported and the rest
 * still applies. Anything else (timeouts, a closed connection) is thrown, for the caller to
 * retry the whole apply.
 */
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { CompiledConfig, CompiledEventType } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import {
  buildConsumerConfig,
  buildStreamConfig,
  buildSystemStreamConfigs,
  findConsumerConflicts,
  findConsumerDrift,
  findStreamConflicts,
  findStreamDrift,
  HERALD_CONSUMER_DESCRIPTION_PREFIX,
  pickConsumerUpdate,
  type DesiredConsumer,
  type DesiredStream,
} from './jetstream-config.js';
import { consumerNameFor } from '../core/topology.js';

export interface TopologyChange {
  object: 'stream' | 'consumer';
  stream: string;
  /** Durable name, for consumers. */
  consumer?: string;
  /** Drifted (updated) or conflicting fields. */
  fields?: string[];
  /** Why, for kept objects, conflicts and failures. */
  message?: string;
  /** The JetStream err_code of a failure. */
  code?: number;
}

export interface ApplyReport {
  created: TopologyChange[];
  updated: TopologyChange[];
  deleted: TopologyChange[];
  /** Streams of removed EventTypes kept because their deletionPolicy is Retain. */
  kept: TopologyChange[];
  /** Differences JetStream cannot apply in place (storage, retention, ack_policy…): left as they are. */
  conflicts: TopologyChange[];
  /** Objects JetStream refused; the rest of the topology still applied. */
  failed: TopologyChange[];
}

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
  /** Replicas of HERALD_DLQ and HERALD_ATTEMPTS (default 1). */
  systemReplicas?: number;
}

export function isReportEmpty(report: ApplyReport): boolean {
  return Object.values(report).every((list: unknown[]) => list.length === 0);
}

const hasCode = (err: unknown, code: number): boolean =>
  err instanceof JetStreamApiError && err.code === code;

class TopologyApplier {
  readonly report: ApplyReport = {
    created: [],
    updated: [],
    deleted: [],
    kept: [],
    conflicts: [],
    failed: [],
  };
  /** Streams that could not be made to exist: their consumers are skipped. */
  private readonly missingStreams = new Set<string>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly log: Logger | undefined,
  ) {}

  private record(list: keyof ApplyReport, change: TopologyChange, msg: string): void {
    this.report[list].push(change);
    if (list === 'failed' || list === 'conflicts') this.log?.warn({ ...change }, msg);
    else this.log?.info({ ...change }, msg);
  }

  /** Runs one object's step; a JetStream refusal is recorded, anything else propagates. */
  private async guard(change: TopologyChange, step: () => Promise<void>): Promise<boolean> {
    try {
      await step();
      return true;
    } catch (err) {
      if (!(err instanceof JetStreamApiError)) throw err;
      this.record(
        'failed',
        { ...change, code: err.code, message: err.message },
        'JetStream refused a change',
      );
      return false;
    }
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
    });
    if (!ok) this.missingStreams.add(desired.name);
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

  async removeStream(et: CompiledEventType, protectedIds: Set<string>): Promise<void> {
    const ref: TopologyChange = { object: 'stream', stream: et.stream };
    const id = `${et.namespace}/${et.name}`;
    if (protectedIds.has(id)) return; // still declared, only broken: nothing was removed
    if (et.deletionPolicy !== 'Delete') {
      const message = `EventType ${id} was removed; its stream is kept (deletionPolicy ${et.deletionPolicy ?? 'Retain'})`;
      this.record('kept', { ...ref, message }, 'stream kept');
      return;
    }
    await this.guard(ref, async () => {
      try {
        await this.jsm.streams.delete(et.stream);
      } catch (err) {
        if (hasCode(err, JetStreamApiCodes.StreamNotFound)) return;
        throw err;
      }
      this.record('deleted', ref, 'stream deleted');
    });
  }

  /** Deletes Herald's durables on `stream` that are neither wanted nor protected. */
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
          if (!durable || wanted.has(durable) || keep.has(durable)) continue;
          if (!ci.config.description?.startsWith(HERALD_CONSUMER_DESCRIPTION_PREFIX)) continue;
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
 * Ensures the system streams, a stream per EventType and a durable consumer per
 * (Subscription, EventType); removes Herald consumers no Subscription wants; deletes the
 * streams of removed EventTypes whose deletionPolicy (in `previous`) was Delete.
 */
export async function applyTopology(
  jsm: JetStreamManager,
  config: CompiledConfig,
  previous?: CompiledConfig,
  options: ApplyTopologyOptions = {},
): Promise<ApplyReport> {
  const applier = new TopologyApplier(jsm, options.logger);
  for (const s of buildSystemStreamConfigs(options.systemReplicas)) await applier.ensureStream(s);
  for (const et of config.eventTypes) await applier.ensureStream(buildStreamConfig(et));

  const wanted = new Map<string, Set<string>>(
    config.eventTypes.map((et) => [et.stream, new Set()]),
  );
  for (const sub of config.subscriptions) {
    for (const c of sub.consumers) {
      await applier.ensureConsumer(c.stream, buildConsumerConfig(sub, c));
      const durables = wanted.get(c.stream) ?? new Set<string>();
      wanted.set(c.stream, durables.add(c.durable));
    }
  }

  if (options.prune === false) return applier.report;

  const namespaceOfStream = new Map<string, string>();
  const current = new Set(config.eventTypes.map((et) => et.stream));
  const leftOutEventTypes = new Set(options.leftOut?.eventTypes ?? []);
  for (const et of [...config.eventTypes, ...(previous?.eventTypes ?? [])]) {
    namespaceOfStream.set(et.stream, et.namespace);
  }
  const deleted = new Set<string>();
  for (const et of previous?.eventTypes ?? []) {
    if (current.has(et.stream)) continue;
    await applier.removeStream(et, leftOutEventTypes);
    if (applier.report.deleted.some((c) => c.object === 'stream' && c.stream === et.stream)) {
      deleted.add(et.stream);
    }
  }

  const leftOutSubscriptions = options.leftOut?.subscriptions ?? [];
  for (const [stream, namespace] of namespaceOfStream) {
    if (deleted.has(stream)) continue;
    // A Subscription that is declared but broken keeps its consumers in its namespace.
    const keep = new Set(
      leftOutSubscriptions
        .filter((id) => id.startsWith(`${namespace}/`))
        .map((id) => consumerNameFor(id.slice(namespace.length + 1))),
    );
    await applier.removeUnwantedConsumers(stream, wanted.get(stream) ?? new Set(), keep);
  }
  return applier.report;
}

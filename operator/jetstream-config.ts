/**
 * Desired JetStream objects as pure functions of the compiled config, and the comparison of
 * desired with actual. jetstream-apply.ts does the I/O. Only settings nats-server 2.9 knows
 * (DESIGN.md §3): no filter_subjects, no metadata, no per-message TTL, no consumer pause.
 */
import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type ConsumerConfig,
  type StreamConfig,
} from '@nats-io/jetstream';
import type {
  CompiledConsumer,
  CompiledEventType,
  CompiledSubscription,
} from '../core/config/model.js';
import { isTimestamp } from '../core/cloudevents/value-formats.js';
import { parseDuration } from '../core/duration.js';
import { Defaults } from '../core/resources/types.js';
import {
  ATTEMPTS_STREAM,
  ATTEMPTS_SUBJECTS,
  DLQ_SINK_CONSUMER,
  DLQ_STREAM,
  DLQ_SUBJECTS,
  REDRIVE_CONSUMER,
  REDRIVE_STREAM,
  REDRIVE_SUBJECTS,
  subjectFor,
} from '../core/topology.js';

export type DesiredStream = Partial<StreamConfig> & { name: string; subjects: string[] };
export type DesiredConsumer = Partial<ConsumerConfig> & { durable_name: string };

const NANOS_PER_MS = 1_000_000;
export const nanos = (ms: number): number => ms * NANOS_PER_MS;
const DAY_MS = 86_400_000;
const MIB = 1024 * 1024;

/**
 * Limits of HERALD_ATTEMPTS, set with the operator's `--attempts-max-*` flags. Its subjects are
 * `herald.attempts.<ns>.<subscription>`, so `maxPerSubject` (JetStream's max_msgs_per_subject)
 * is how many records each subscription keeps: a busy one cannot push out a quiet one's.
 */
export interface AttemptLogLimits {
  maxAgeMs: number;
  maxBytes: number;
  maxPerSubject: number;
}

/**
 * Limits of the system streams every installation has. Dead letters are kept long (someone
 * has to look at them) but not forever; the attempts log is diagnostics, so it is short-lived.
 */
export const SystemStreamLimits = {
  dlq: { maxAgeMs: 30 * DAY_MS, maxBytes: 1024 * MIB },
  /** ~4.5 MiB of records (~0.45 KiB each) per subscription: about 57 fill the 256 MiB. */
  attempts: { maxAgeMs: 7 * DAY_MS, maxBytes: 256 * MIB, maxPerSubject: 10_000 },
  /** Redrives waiting for delivery (a work queue: delivered ones leave it); as big as the DLQ. */
  redrive: { maxAgeMs: 7 * DAY_MS, maxBytes: 1024 * MIB },
} as const;

/** Starts the description of every consumer Herald makes: only those are ever deleted by Herald. */
export const HERALD_CONSUMER_DESCRIPTION_PREFIX = 'Herald Subscription ';
/** Starts the description of every EventType stream Herald makes: only those are ever deleted. */
export const HERALD_STREAM_DESCRIPTION_PREFIX = 'Herald EventType ';

export type DeletionPolicy = NonNullable<CompiledEventType['deletionPolicy']>;

/**
 * Ends every EventType stream's description: the EventType's deletionPolicy, kept on the
 * stream itself so that it survives the EventType (and the operator's memory). When an
 * EventType vanishes, nothing else says what to do with its stream: the compiled config no
 * longer has it, and stream `metadata` needs nats-server 2.10. Read back anchored at the end,
 * so text inside the CloudEvents type cannot forge it.
 */
const DELETION_POLICY_MARKER = '; herald deletionPolicy=';
const DELETION_POLICY_AT_END = /; herald deletionPolicy=(Retain|Delete)$/;

/** What Herald wrote into an EventType stream's description, or undefined if it is not one. */
export function parseEventTypeStreamDescription(
  description: string | undefined,
): { id: string; deletionPolicy?: DeletionPolicy } | undefined {
  if (!description?.startsWith(HERALD_STREAM_DESCRIPTION_PREFIX)) return undefined;
  const rest = description.slice(HERALD_STREAM_DESCRIPTION_PREFIX.length);
  const id = rest.slice(0, rest.indexOf(' ') === -1 ? rest.length : rest.indexOf(' '));
  if (!/^[^/\s]+\/[^/\s]+$/.test(id)) return undefined;
  const policy = DELETION_POLICY_AT_END.exec(description)?.[1] as DeletionPolicy | undefined;
  return policy ? { id, deletionPolicy: policy } : { id };
}

/** The `<ns>/<name>` of the Subscription a Herald consumer belongs to, from its description. */
export function parseConsumerDescription(description: string | undefined): string | undefined {
  if (!description?.startsWith(HERALD_CONSUMER_DESCRIPTION_PREFIX)) return undefined;
  const id = description.slice(HERALD_CONSUMER_DESCRIPTION_PREFIX.length).split(' ')[0] ?? '';
  return /^[^/\s]+\/[^/\s]+$/.test(id) ? id : undefined;
}

/** Margin of ack_wait over the webhook timeout; see ackWaitMsFor. */
export const ACK_WAIT_MIN_MARGIN_MS = 30_000;

/**
 * ack_wait for a webhook timeout. It must outlast everything one attempt does while holding
 * the message — connect/TLS, the POST up to its timeout, then the ledger write and the ack
 * round trip — or the server redelivers while the first attempt is still running. Doubling
 * covers long timeouts, the 30 s floor covers GC pauses and slow KV writes around short ones.
 * It stays bounded because it is also how long a crashed dispatcher's messages wait before
 * they are redelivered elsewhere.
 */
export function ackWaitMsFor(timeoutMs: number): number {
  return Math.max(timeoutMs * 2, timeoutMs + ACK_WAIT_MIN_MARGIN_MS);
}

export function buildStreamConfig(et: CompiledEventType): DesiredStream {
  // Configs written before retention was compiled fall back to the documented defaults.
  const retention = et.retention ?? {
    maxAgeMs: parseDuration(Defaults.retentionMaxAge),
    maxBytes: -1,
    replicas: Defaults.replicas,
    storage: Defaults.storage,
  };
  return {
    name: et.stream,
    subjects: [et.subject],
    description: `${HERALD_STREAM_DESCRIPTION_PREFIX}${et.namespace}/${et.name} (${et.type})${DELETION_POLICY_MARKER}${et.deletionPolicy ?? Defaults.deletionPolicy}`,
    retention: RetentionPolicy.Limits,
    storage: retention.storage === 'memory' ? StorageType.Memory : StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(retention.maxAgeMs),
    max_bytes: retention.maxBytes,
    max_msgs: -1,
    max_msg_size: -1,
    num_replicas: retention.replicas,
    duplicate_window: nanos(et.duplicateWindowMs ?? parseDuration(Defaults.duplicateWindow)),
  };
}

export function buildSystemStreamConfigs(
  replicas = 1,
  attemptLog: AttemptLogLimits = SystemStreamLimits.attempts,
): DesiredStream[] {
  const system = (
    name: string,
    subject: string,
    limits: { maxAgeMs: number; maxBytes: number },
    description: string,
  ): DesiredStream => ({
    name,
    subjects: [subject],
    description,
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    max_age: nanos(limits.maxAgeMs),
    max_bytes: limits.maxBytes,
    max_msgs: -1,
    max_msg_size: -1,
    num_replicas: replicas,
    duplicate_window: nanos(parseDuration(Defaults.duplicateWindow)),
  });
  return [
    system(DLQ_STREAM, DLQ_SUBJECTS, SystemStreamLimits.dlq, 'Herald dead letters'),
    {
      ...system(ATTEMPTS_STREAM, ATTEMPTS_SUBJECTS, attemptLog, 'Herald delivery attempts'),
      max_msgs_per_subject: attemptLog.maxPerSubject,
      // JetStream refuses a duplicate window longer than max_age; records carry no Nats-Msg-Id.
      duplicate_window: nanos(
        Math.min(attemptLog.maxAgeMs, parseDuration(Defaults.duplicateWindow)),
      ),
    },
    {
      // A work queue: a settled redrive leaves the stream (HERALD_DLQ is the record), and a
      // full stream refuses new redrives rather than dropping ones not yet delivered.
      ...system(
        REDRIVE_STREAM,
        REDRIVE_SUBJECTS,
        SystemStreamLimits.redrive,
        'Herald dead letters queued for redelivery',
      ),
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.New,
    },
  ];
}

/** ack_wait of the shared system consumers; dispatchers send in-progress acks past half of it. */
export const SYSTEM_CONSUMER_ACK_WAIT_MS = 60_000;

/**
 * The dispatchers' shared durables on the system streams (docs/delivery.md "Dead-letter sink",
 * "Redrive"). No max_deliver: each message follows its own subscription's retry.maxAttempts,
 * which the dispatcher counts from the delivery count. max_ack_pending is large because
 * messages waiting for a delayed retry count toward it on 2.9.
 */
export function buildSystemConsumerConfigs(): { stream: string; consumer: DesiredConsumer }[] {
  const shared = (durable: string, description: string): DesiredConsumer => ({
    durable_name: durable,
    description,
    ack_policy: AckPolicy.Explicit,
    replay_policy: ReplayPolicy.Instant,
    max_deliver: -1,
    ack_wait: nanos(SYSTEM_CONSUMER_ACK_WAIT_MS),
    max_ack_pending: 10_000,
  });
  return [
    {
      stream: DLQ_STREAM,
      // Dead letters from its creation on: an upgrade does not flood dead-letter sinks with old ones.
      consumer: {
        ...shared(DLQ_SINK_CONSUMER, 'Herald dead-letter sink delivery'),
        deliver_policy: DeliverPolicy.New,
      },
    },
    {
      stream: REDRIVE_STREAM,
      consumer: {
        ...shared(REDRIVE_CONSUMER, 'Herald redrive delivery'),
        deliver_policy: DeliverPolicy.All,
      },
    },
  ];
}

/**
 * A `startFrom` time as the ISO string JetStream takes, or undefined when it is not a real
 * RFC 3339 time (isTimestamp: no February 30, no hour 24 — `new Date` would roll those over
 * into the next month or day). A leap second (:60) starts from the second before it: Date
 * cannot represent it, and stored messages never carry one.
 */
export function startTimeOf(startFrom: string): string | undefined {
  if (!isTimestamp(startFrom)) return undefined;
  const at = new Date(
    startFrom.slice(17, 19) === '60'
      ? `${startFrom.slice(0, 17)}59${startFrom.slice(19)}`
      : startFrom,
  );
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

function deliverPolicyFor(
  startFrom: string,
): Pick<ConsumerConfig, 'deliver_policy' | 'opt_start_time'> {
  if (startFrom === 'earliest') return { deliver_policy: DeliverPolicy.All };
  if (startFrom === 'new') return { deliver_policy: DeliverPolicy.New };
  const time = startTimeOf(startFrom);
  // The compile step refuses anything else; a config from elsewhere starts with new events.
  if (time === undefined) return { deliver_policy: DeliverPolicy.New };
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: time };
}

/** The durable pull consumer of one Subscription on one EventType's stream. */
export function buildConsumerConfig(
  sub: CompiledSubscription,
  consumer: CompiledConsumer,
): DesiredConsumer {
  return {
    durable_name: consumer.durable,
    description: `${HERALD_CONSUMER_DESCRIPTION_PREFIX}${sub.namespace}/${sub.name} on ${consumer.eventType}`,
    ack_policy: AckPolicy.Explicit,
    ...deliverPolicyFor(sub.startFrom),
    replay_policy: ReplayPolicy.Instant,
    filter_subject: subjectFor(sub.namespace, consumer.eventType),
    // One delivery more than attempts: the spare only dead-letters (dispatcher/consume-loop.ts),
    // so an event whose last attempt could not be settled still reaches HERALD_DLQ.
    max_deliver: sub.delivery.retry.maxAttempts + 1,
    ack_wait: nanos(ackWaitMsFor(sub.delivery.timeoutMs)),
    // Delayed naks count toward max_ack_pending on 2.9: in-flight plus waiting retries.
    max_ack_pending: sub.delivery.maxInFlight,
  };
}

/** Stream fields JetStream updates in place; storage and retention are fixed at creation. */
const STREAM_UPDATABLE = [
  'description',
  'discard',
  'max_age',
  'max_bytes',
  'max_msgs',
  'max_msgs_per_subject',
  'max_msg_size',
  'num_replicas',
  'duplicate_window',
] as const satisfies readonly (keyof StreamConfig)[];
const STREAM_FIXED = ['storage', 'retention'] as const satisfies readonly (keyof StreamConfig)[];

/** Consumer fields 2.9 updates in place. deliver_policy/opt_start_time are deliberately absent. */
const CONSUMER_UPDATABLE = [
  'description',
  'ack_wait',
  'max_deliver',
  'max_ack_pending',
] as const satisfies readonly (keyof ConsumerConfig)[];
const CONSUMER_FIXED = [
  'ack_policy',
  'filter_subject',
] as const satisfies readonly (keyof ConsumerConfig)[];

function differing<T extends object>(
  desired: Partial<T>,
  actual: Partial<T>,
  fields: readonly (keyof T)[],
): string[] {
  return fields
    .filter((f) => desired[f] !== undefined && (desired[f] ?? '') !== (actual[f] ?? ''))
    .map(String);
}

const sameSet = (a: readonly string[] = [], b: readonly string[] = []): boolean =>
  a.length === b.length && a.every((x) => b.includes(x));

/** Updatable stream fields whose actual value differs from the desired one. */
export function findStreamDrift(desired: DesiredStream, actual: StreamConfig): string[] {
  const fields = differing(desired, actual, STREAM_UPDATABLE);
  return sameSet(desired.subjects, actual.subjects) ? fields : ['subjects', ...fields];
}

/** Differences JetStream cannot update in place (the stream would have to be recreated). */
export function findStreamConflicts(desired: DesiredStream, actual: StreamConfig): string[] {
  return differing(desired, actual, STREAM_FIXED);
}

export function findConsumerDrift(desired: DesiredConsumer, actual: ConsumerConfig): string[] {
  return differing(desired, actual, CONSUMER_UPDATABLE);
}

export function findConsumerConflicts(desired: DesiredConsumer, actual: ConsumerConfig): string[] {
  return differing(desired, actual, CONSUMER_FIXED);
}

/** The part of a desired consumer that may be sent as an update. */
export function pickConsumerUpdate(desired: DesiredConsumer): Partial<ConsumerConfig> {
  const out: Partial<ConsumerConfig> = {};
  for (const f of CONSUMER_UPDATABLE)
    if (desired[f] !== undefined) Object.assign(out, { [f]: desired[f] });
  return out;
}

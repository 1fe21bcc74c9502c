/**
 * Reads one subscription's dead letters from HERALD_DLQ for `herald dlq list|redrive|purge`,
 * oldest first, through a short-lived ephemeral consumer filtered to `herald.dlq.<ns>.<name>`
 * (no filter_subjects: nats-server 2.9). Selecting by event (`--id`, `--source`) reads every
 * dead letter of the subscription (within `--since`) and keeps those of the events asked for.
 * Read-only: nothing in the stream changes.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { DLQ_STREAM, dlqSubjectFor } from '../core/topology.js';
import { DeadLetterAttribute, DeadLetterHeader } from '../dispatcher/dead-letter.js';

export const DlqErrorCode = {
  /** HERALD_DLQ or HERALD_REDRIVE does not exist: the operator has not run (this version). */
  StreamMissing: 'ERR_DLQ_STREAM_MISSING',
  /** Redrive to a Subscription that is not in the config, or is paused. */
  NoSubscription: 'ERR_DLQ_NO_SUBSCRIPTION',
  SubscriptionPaused: 'ERR_DLQ_SUBSCRIPTION_PAUSED',
} as const;
export type DlqErrorCode = (typeof DlqErrorCode)[keyof typeof DlqErrorCode];

/** A `herald dlq` failure that is not a usage error (exit 1); `message` is for the user. */
export class DlqError extends Error {
  readonly code: DlqErrorCode;
  constructor(code: DlqErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DlqError';
    this.code = code;
  }
}

/** One dead letter as stored, with what tooling shows of it. */
export interface StoredDeadLetter {
  /** Its HERALD_DLQ sequence. */
  seq: number;
  /** When it was stored, RFC 3339. */
  time: string;
  /** The stored bytes: the event in structured JSON with heralderror* attributes. */
  data: Uint8Array;
  /** The structured JSON, when it parses as a JSON object. */
  json?: Record<string, unknown>;
  /** Its NATS headers (source stream and sequence, original msg id, producer, msg id). */
  headers: {
    msgId?: string;
    sourceStream?: string;
    sourceSequence?: number;
    originalMsgId?: string;
    producer?: string;
  };
}

/** Which dead letters of a subscription: the oldest `limit` of those selected. */
export interface DeadLetterQuery {
  namespace: string;
  name: string;
  since?: Date;
  limit: number;
  /** Only the dead letters of these CloudEvents ids (none: every event). */
  ids?: readonly string[];
  /** Only events from this CloudEvents source. */
  source?: string;
}

export interface DeadLetterPage {
  letters: StoredDeadLetter[];
  /** Dead letters matching when the read started; more than `letters` when cut by the limit. */
  matching: number;
  /** With `ids`: each id that matched, with the sources of its dead letters. */
  sourcesById: Map<string, Set<string>>;
}

const FETCH_BATCH = 256;
/** The ephemeral consumer goes away by itself if this process dies mid-read. */
const INACTIVE_THRESHOLD_NS = 60_000 * 1_000_000;

export async function readDeadLetters(
  js: JetStreamClient,
  jsm: JetStreamManager,
  query: DeadLetterQuery,
): Promise<DeadLetterPage> {
  let lastStoredMs: number;
  try {
    lastStoredMs = Date.parse((await jsm.streams.info(DLQ_STREAM)).state.last_ts);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      throw new DlqError(
        DlqErrorCode.StreamMissing,
        `the stream ${DLQ_STREAM} does not exist: has the operator run against this NATS?`,
        { cause: err },
      );
    }
    throw err;
  }
  // Nothing stored after --since. Also spares nats-server 2.9 a start time past year 2262,
  // which overflows its nanoseconds and starts from the beginning.
  const sourcesById = new Map<string, Set<string>>();
  if (query.since && !(lastStoredMs >= query.since.getTime())) {
    return { letters: [], matching: 0, sourcesById };
  }
  const info = await jsm.consumers.add(DLQ_STREAM, {
    ack_policy: AckPolicy.None,
    filter_subject: dlqSubjectFor(query.namespace, query.name),
    ...(query.since
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: query.since.toISOString() }
      : { deliver_policy: DeliverPolicy.All }),
    inactive_threshold: INACTIVE_THRESHOLD_NS,
    mem_storage: true,
  });
  const selects = selectorFor(query);
  // Without an event selection every one matches, so the oldest `limit` are all it reads.
  const toRead = selects ? info.num_pending : Math.min(info.num_pending, query.limit);
  let matching = selects ? 0 : info.num_pending;
  let read = 0;
  const letters: StoredDeadLetter[] = [];
  try {
    const consumer = await js.consumers.get(DLQ_STREAM, info.name);
    while (read < toRead) {
      const batch = await consumer.fetch({
        max_messages: Math.min(FETCH_BATCH, toRead - read),
        expires: 5_000,
      });
      let got = 0;
      for await (const m of batch) {
        got++;
        const letter = toStoredDeadLetter(m);
        if (selects) {
          if (!selects(letter)) continue;
          matching++;
          if (query.ids?.length) noteSource(sourcesById, letter);
        }
        if (letters.length < query.limit) letters.push(letter);
      }
      read += got;
      // Messages aged out of the stream while reading: nothing more will come.
      if (got === 0) break;
    }
  } finally {
    await jsm.consumers.delete(DLQ_STREAM, info.name).catch(() => undefined);
  }
  return { letters, matching, sourcesById };
}

/** The test for `--id` / `--source`; undefined when neither is given (every one matches). */
function selectorFor(query: DeadLetterQuery): ((letter: StoredDeadLetter) => boolean) | undefined {
  const ids = query.ids?.length ? new Set(query.ids) : undefined;
  const { source } = query;
  if (!ids && source === undefined) return undefined;
  return (letter) => {
    const j = letter.json;
    if (!j) return false;
    if (ids && !(typeof j.id === 'string' && ids.has(j.id))) return false;
    return source === undefined || j.source === source;
  };
}

function noteSource(sourcesById: Map<string, Set<string>>, letter: StoredDeadLetter): void {
  const id = String(letter.json?.id);
  let sources = sourcesById.get(id);
  if (!sources) sourcesById.set(id, (sources = new Set()));
  sources.add(String(letter.json?.source));
}

function toStoredDeadLetter(m: JsMsg): StoredDeadLetter {
  const header = (name: string): string | undefined => m.headers?.get(name) || undefined;
  const sourceSequence = Number(header(DeadLetterHeader.SourceSequence));
  const headers: StoredDeadLetter['headers'] = {};
  const msgId = header('Nats-Msg-Id');
  if (msgId) headers.msgId = msgId;
  const sourceStream = header(DeadLetterHeader.SourceStream);
  if (sourceStream) headers.sourceStream = sourceStream;
  if (Number.isSafeInteger(sourceSequence) && sourceSequence > 0) {
    headers.sourceSequence = sourceSequence;
  }
  const originalMsgId = header(DeadLetterHeader.OriginalMsgId);
  if (originalMsgId) headers.originalMsgId = originalMsgId;
  const producer = header(DeadLetterHeader.Producer);
  if (producer) headers.producer = producer;
  const letter: StoredDeadLetter = {
    seq: m.seq,
    time: m.time.toISOString(),
    data: m.data,
    headers,
  };
  try {
    const parsed: unknown = JSON.parse(new TextDecoder().decode(m.data));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      letter.json = parsed as Record<string, unknown>;
    }
  } catch {
    // Shown as undecodable; Herald itself only ever stores valid JSON here.
  }
  return letter;
}

/** The event without its heralderror* attributes (the structured JSON object). */
export function withoutErrorAttributes(json: Record<string, unknown>): Record<string, unknown> {
  const event = { ...json };
  for (const name of Object.values(DeadLetterAttribute)) delete event[name];
  return event;
}

/**
 * `herald attempts --nats URL --subscription NS/NAME [--since TIME] [--limit N] [--json]`:
 * a subscription's latest delivery attempts from HERALD_ATTEMPTS (docs/delivery.md "Attempt
 * log"), oldest first, as a table or one JSON object per line.
 *
 * "The last N" without reading the whole subject: JetStream 2.9 cannot read backwards, but a
 * new consumer reports how many of the subject's records lie at or after its start sequence
 * (num_pending). A few such probes (interpolation, then bisection) find a start that leaves
 * between N and N + slack records; those are read with one ordered consumer and the last N
 * kept.
 */
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsAuth } from '../core/nats-connect-options.js';
import { ATTEMPTS_STREAM, attemptsSubjectFor } from '../core/topology.js';
import type { AttemptLogEntry } from '../dispatcher/attempts-log.js';
import type { FlagValues } from './flags.js';
import {
  connectForCommand,
  parseSince,
  readLimit,
  readNatsUrl,
  readSubscriptionId,
  UsageError,
} from './inspect-args.js';

export interface AttemptsCommandOptions {
  values: FlagValues;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
  /** The command's help text, printed after a usage error. */
  usage: string;
  /** Where output goes (tests capture it); default the process's stdout and stderr. */
  out?: (line: string) => void;
  err?: (line: string) => void;
  now?: () => number;
}

export interface AttemptsQuery {
  natsUrl: string;
  namespace: string;
  name: string;
  since?: Date;
  limit: number;
  json: boolean;
}

/** Widest error/excerpt cell in the table; `--json` shows everything. */
const DETAIL_CHARS = 100;
const EVENT_ID_CHARS = 36;

/** Runs `herald attempts` to completion: 0 done (records or none), 1 failed, 2 usage error. */
export async function runAttemptsCommand(options: AttemptsCommandOptions): Promise<number> {
  const out = options.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const err = options.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  let query: AttemptsQuery;
  try {
    query = parseAttemptsArgs(options.values, options.now?.() ?? Date.now());
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`herald attempts: ${e.message}\n\n${options.usage}`);
    return 2;
  }
  const nc = await connectForCommand('attempts', query.natsUrl, options.natsAuth, err);
  if (!nc) return 1;
  try {
    const { records, total, unreadable } = await readAttempts(nc, query);
    const id = `${query.namespace}/${query.name}`;
    const when = query.since ? ` since ${query.since.toISOString()}` : '';
    if (unreadable > 0) err(`herald attempts: skipped ${unreadable} records that are not JSON`);
    if (records.length === 0) {
      (query.json ? err : out)(`no attempt records for ${id}${when}`);
      return 0;
    }
    if (query.json) for (const r of records) out(JSON.stringify(r));
    else for (const line of formatAttemptsTable(records)) out(line);
    if (total > records.length) {
      err(
        `showing the last ${records.length} of ${total} records for ${id}${when}; raise --limit for more`,
      );
    }
    return 0;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
      err(
        `herald attempts: the stream ${ATTEMPTS_STREAM} does not exist (the operator creates it)`,
      );
    } else {
      err(`herald attempts: ${(e as Error).message}`);
    }
    return 1;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

export function parseAttemptsArgs(values: FlagValues, nowMs: number): AttemptsQuery {
  const natsUrl = readNatsUrl(values);
  const { namespace, name } = readSubscriptionId(values);
  const query: AttemptsQuery = {
    natsUrl,
    namespace,
    name,
    limit: readLimit(values),
    json: values.json === true,
  };
  if (typeof values.since === 'string') query.since = parseSince(values.since, nowMs);
  return query;
}

export interface AttemptsRead {
  /** The last `limit` records at or after `since`, oldest first. */
  records: AttemptLogEntry[];
  /** How many records there were at or after `since` (all of the subscription's without it). */
  total: number;
  /** Records skipped because they were not JSON objects. */
  unreadable: number;
}

/** Reads the subscription's last `limit` records (at or after `since`) from HERALD_ATTEMPTS. */
export async function readAttempts(
  nc: NatsConnection,
  query: AttemptsQuery,
): Promise<AttemptsRead> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const subject = attemptsSubjectFor(query.namespace, query.name);
  const window = await locateLastRecords(jsm, subject, query.limit, query.since);
  if (!window) return { records: [], total: 0, unreadable: 0 };
  const read = await readFrom(js, subject, window.fromSeq, query.limit);
  return { ...read, total: window.total };
}

interface ReadWindow {
  /** Read from here: at least `limit` and at most limit + slack records follow. */
  fromSeq: number;
  /** All records at or after the start point (`since`, else the first). */
  total: number;
}

/** The subject's records at or after a start point, and the sequence that point resolves to. */
async function countFrom(
  jsm: JetStreamManager,
  subject: string,
  start: Pick<ConsumerConfig, 'deliver_policy' | 'opt_start_seq' | 'opt_start_time'>,
): Promise<{ pending: number; startSeq: number }> {
  const info = await jsm.consumers.add(ATTEMPTS_STREAM, {
    ...start,
    filter_subject: subject,
    ack_policy: AckPolicy.None,
    mem_storage: true,
    num_replicas: 1,
    // Deleted below; this only covers a command killed in between.
    inactive_threshold: 30_000_000_000,
  });
  await jsm.consumers.delete(ATTEMPTS_STREAM, info.name).catch(() => undefined);
  return { pending: info.num_pending, startSeq: info.delivered.stream_seq + 1 };
}

/**
 * Finds where to read the last `limit` records from. Invariant: at least `limit` records lie at
 * or after `lo`, fewer at or after `hi`. Each step probes one sequence: by interpolation (the
 * records are usually spread evenly enough to land within the slack at once), alternating with
 * bisection so a skewed spread still converges in O(log n) probes.
 */
async function locateLastRecords(
  jsm: JetStreamManager,
  subject: string,
  limit: number,
  since: Date | undefined,
): Promise<ReadWindow | undefined> {
  const first = await countFrom(
    jsm,
    subject,
    since
      ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString() }
      : { deliver_policy: DeliverPolicy.All },
  );
  if (first.pending === 0) return undefined;
  const total = first.pending;
  // Extra records read to save probes: one probe costs about as much as reading ~100 records,
  // and nats-server 2.9 reads a sparse filtered subject slowly (up to ~1.5 ms per record).
  const slack = Math.max(50, Math.ceil(limit / 10));
  if (total <= limit + slack) return { fromSeq: first.startSeq, total };
  const last = await jsm.streams.getMessage(ATTEMPTS_STREAM, { last_by_subj: subject });
  let lo = first.startSeq;
  let loPending = total;
  let hi = (last?.seq ?? lo) + 1;
  let hiPending = 0;
  for (let step = 0; hi - lo > 1; step++) {
    let probe: number;
    if (step % 2 === 0) {
      const target = limit + slack / 2;
      const fraction = (loPending - target) / (loPending - hiPending);
      probe = lo + Math.round(fraction * (hi - lo));
    } else {
      probe = Math.floor((lo + hi) / 2);
    }
    probe = Math.min(hi - 1, Math.max(lo + 1, probe));
    const { pending } = await countFrom(jsm, subject, {
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: probe,
    });
    if (pending >= limit) {
      lo = probe;
      loPending = pending;
      if (pending <= limit + slack) break;
    } else {
      hi = probe;
      hiPending = pending;
    }
  }
  return { fromSeq: lo, total };
}

/** Reads every record from `fromSeq` present when it starts, keeping the last `limit`. */
async function readFrom(
  js: JetStreamClient,
  subject: string,
  fromSeq: number,
  limit: number,
): Promise<Omit<AttemptsRead, 'total'>> {
  const consumer = await js.consumers.get(ATTEMPTS_STREAM, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: fromSeq,
  });
  // A snapshot: records stored after this moment are not waited for.
  const expected = (await consumer.info(true)).num_pending;
  const kept: AttemptLogEntry[] = [];
  let unreadable = 0;
  if (expected > 0) {
    const messages = await consumer.consume({ max_messages: Math.min(expected, 1_000) });
    let seen = 0;
    for await (const m of messages) {
      seen++;
      const record = parseRecord(m.string());
      if (record) {
        kept.push(record);
        if (kept.length > limit) kept.shift();
      } else {
        unreadable++;
      }
      if (seen >= expected || m.info.pending === 0) break;
    }
    await messages.close().catch(() => undefined);
  }
  await consumer.delete().catch(() => undefined);
  return { records: kept, unreadable };
}

function parseRecord(text: string): AttemptLogEntry | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value)
      ? (value as AttemptLogEntry)
      : undefined;
  } catch {
    return undefined;
  }
}

const CONTROL = /\p{Cc}+/gu;

/** One line of free text, at most `max` characters. */
function cell(text: string, max: number): string {
  const line = text.replace(CONTROL, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The table `herald attempts` prints: one line per attempt, columns padded to fit. */
export function formatAttemptsTable(records: readonly AttemptLogEntry[]): string[] {
  const header = [
    'TIME',
    'EVENT ID',
    'ATTEMPT',
    'OUTCOME',
    'STATUS',
    'LATENCY',
    'ERROR / RESPONSE',
  ];
  const rows = records.map((r) => [
    String(r.time ?? ''),
    cell(String(r.eventId ?? ''), EVENT_ID_CHARS),
    r.maxAttempts ? `${r.attempt}/${r.maxAttempts}` : String(r.attempt ?? ''),
    String(r.outcome ?? ''),
    r.status !== undefined ? String(r.status) : String(r.failure ?? ''),
    typeof r.latencyMs === 'number' ? `${Math.round(r.latencyMs)} ms` : '',
    describeDetail(r),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const format = (row: string[]): string =>
    row
      .map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [format(header), ...rows.map(format)];
}

function describeDetail(r: AttemptLogEntry): string {
  const parts: string[] = [];
  if (r.error) parts.push(r.error);
  if (r.retryInMs !== undefined) parts.push(`next attempt in ${formatDelay(r.retryInMs)}`);
  const detail = parts.join('; ');
  const excerpt = r.responseExcerpt ? `response: ${r.responseExcerpt}` : '';
  return cell([detail, excerpt].filter(Boolean).join(' | '), DETAIL_CHARS);
}

function formatDelay(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

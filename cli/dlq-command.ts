/**
 * `herald dlq list|redrive --nats URL --subscription NS/NAME [--since TIME] [--limit N] [--json]`
 * (docs/delivery.md "Dead letters"). `list` prints a subscription's dead letters from
 * HERALD_DLQ; `redrive` queues the same selection on HERALD_REDRIVE, where the dispatchers
 * deliver each original event to the subscription's current sink. Both select the same dead
 * letters for the same flags, so `list` shows exactly what `redrive` would send.
 */
import {
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { decodeStructured, encodeStructured } from '../core/cloudevents/index.js';
import { MediaType } from '../core/cloudevents/types.js';
import type { CompiledSubscription } from '../core/config/model.js';
import type { NatsAuth } from '../core/nats-connect-options.js';
import {
  CONFIG_BUCKET,
  ConfigKeyPrefix,
  configKeyFor,
  messageIdFor,
  REDRIVE_STREAM,
  redriveSubjectFor,
} from '../core/topology.js';
import { DeadLetterAttribute, DeadLetterHeader } from '../dispatcher/dead-letter.js';
import { RedriveHeader } from '../dispatcher/redrive.js';
import {
  DlqError,
  DlqErrorCode,
  readDeadLetters,
  withoutErrorAttributes,
  type StoredDeadLetter,
} from './dlq-read.js';
import type { FlagValues } from './flags.js';
import {
  connectForCommand,
  parseSince,
  readLimit,
  readNatsUrl,
  readSubscriptionId,
  UsageError,
} from './inspect-args.js';

export interface DlqCommandOptions {
  values: FlagValues;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
  positionals: string[];
  /** The command's help text, printed after a usage error. */
  usage: string;
  /** Where output goes (tests capture it); default the process's stdout and stderr. */
  out?: (text: string) => void;
  err?: (text: string) => void;
  now?: () => number;
}

interface DlqQuery {
  action: 'list' | 'redrive';
  natsUrl: string;
  namespace: string;
  name: string;
  since?: Date;
  limit: number;
  json: boolean;
}

/** Publishes in flight at once while queueing a redrive. */
const REDRIVE_PIPELINE = 64;

/** Runs `herald dlq …` to completion: 0 done, 1 failed, 2 usage error. */
export async function runDlqCommand(options: DlqCommandOptions): Promise<number> {
  const out = options.out ?? ((text: string) => void process.stdout.write(`${text}\n`));
  const err = options.err ?? ((text: string) => void process.stderr.write(`${text}\n`));
  let query: DlqQuery;
  try {
    query = parseDlqArgs(options.values, options.positionals, options.now?.() ?? Date.now());
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`herald dlq: ${e.message}\n\n${options.usage}`);
    return 2;
  }
  const nc = await connectForCommand('dlq', query.natsUrl, options.natsAuth, err);
  if (!nc) return 1;
  try {
    return query.action === 'list'
      ? await listDeadLetters(nc, query, out, err)
      : await redrive(nc, query, out, err);
  } catch (e) {
    err(`herald dlq ${query.action}: ${(e as Error).message}`);
    return 1;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

function parseDlqArgs(values: FlagValues, positionals: string[], nowMs: number): DlqQuery {
  const [action, ...extra] = positionals;
  if (action !== 'list' && action !== 'redrive') {
    throw new UsageError(
      action === undefined
        ? 'say what to do: list or redrive'
        : `unknown subcommand "${action}": use list or redrive`,
    );
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const natsUrl = readNatsUrl(values);
  const { namespace, name } = readSubscriptionId(values);
  const query: DlqQuery = {
    action,
    natsUrl,
    namespace,
    name,
    limit: readLimit(values),
    json: values.json === true,
  };
  if (typeof values.since === 'string') query.since = parseSince(values.since, nowMs);
  return query;
}

async function listDeadLetters(
  nc: NatsConnection,
  q: DlqQuery,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  const page = await readDeadLetters(jetstream(nc), await jetstreamManager(nc), q);
  if (q.json) {
    for (const letter of page.letters) out(JSON.stringify(toJsonLine(q, letter)));
  } else if (page.letters.length === 0) {
    err(
      `no dead letters for ${q.namespace}/${q.name}${q.since ? ` since ${q.since.toISOString()}` : ''}`,
    );
  } else {
    out(formatTable(page.letters.map(toRow)));
  }
  reportCut(page.letters.length, page.matching, err);
  return 0;
}

function reportCut(shown: number, matching: number, err: (text: string) => void): void {
  if (matching > shown) {
    err(`(${shown} of ${matching} dead letters; raise --limit or move --since for the rest)`);
  }
}

const COLUMNS = [
  'SEQ',
  'TIME',
  'EVENT ID',
  'TYPE',
  'SOURCE',
  'CODE',
  'ATTEMPTS',
  'STATUS',
  'REASON',
];

function toRow(letter: StoredDeadLetter): string[] {
  const j = letter.json;
  if (!j) return [String(letter.seq), letter.time, '(not JSON)', '', '', '', '', '', ''];
  const text = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
  return [
    String(letter.seq),
    letter.time,
    text(j.id),
    text(j.type),
    text(j.source),
    text(j[DeadLetterAttribute.Code]),
    text(j[DeadLetterAttribute.Attempts]),
    text(j[DeadLetterAttribute.Status]),
    text(j[DeadLetterAttribute.Reason]),
  ];
}

function formatTable(rows: string[][]): string {
  const widths = COLUMNS.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(COLUMNS), ...rows.map(line)].join('\n');
}

function toJsonLine(q: DlqQuery, letter: StoredDeadLetter): Record<string, unknown> {
  const j = letter.json;
  return {
    seq: letter.seq,
    time: letter.time,
    subscription: `${q.namespace}/${q.name}`,
    code: j?.[DeadLetterAttribute.Code],
    reason: j?.[DeadLetterAttribute.Reason],
    attempts: j?.[DeadLetterAttribute.Attempts],
    status: j?.[DeadLetterAttribute.Status],
    responseExcerpt: j?.[DeadLetterAttribute.Body],
    ...letter.headers,
    event: j ? withoutErrorAttributes(j) : null,
    ...(j ? {} : { raw: new TextDecoder().decode(letter.data) }),
  };
}

async function redrive(
  nc: NatsConnection,
  q: DlqQuery,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  let duplicateWindowNs: number;
  try {
    duplicateWindowNs = (await jsm.streams.info(REDRIVE_STREAM)).config.duplicate_window;
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
      throw new DlqError(
        DlqErrorCode.StreamMissing,
        `the stream ${REDRIVE_STREAM} does not exist: run the operator of this Herald version first`,
        { cause: e },
      );
    }
    throw e;
  }
  await checkSubscription(js, q);
  const page = await readDeadLetters(js, jsm, q);
  let queued = 0;
  let duplicates = 0;
  let failure: unknown;
  const skipped: number[] = [];
  for (let i = 0; i < page.letters.length && failure === undefined; i += REDRIVE_PIPELINE) {
    const chunk = page.letters.slice(i, i + REDRIVE_PIPELINE);
    const acks = await Promise.allSettled(
      chunk.map((letter) => {
        const message = toRedriveMessage(q, letter);
        if (!message) {
          skipped.push(letter.seq);
          return undefined;
        }
        return js.publish(redriveSubjectFor(q.namespace, q.name), message.body, {
          headers: message.headers,
          msgID: message.msgId,
        });
      }),
    );
    for (const ack of acks) {
      if (ack.status === 'rejected') failure ??= ack.reason;
      else if (ack.value?.duplicate) duplicates++;
      else if (ack.value) queued++;
    }
  }
  const windowText = formatWindow(duplicateWindowNs);
  if (q.json) {
    out(
      JSON.stringify({
        subscription: `${q.namespace}/${q.name}`,
        queued,
        duplicates,
        skipped,
        matching: page.matching,
      }),
    );
  } else {
    out(
      `queued ${queued} dead letter${queued === 1 ? '' : 's'} of ${q.namespace}/${q.name} for redelivery`,
    );
    if (duplicates > 0) {
      out(
        `${duplicates} already queued by a redrive within the last ${windowText}: not queued again`,
      );
    }
  }
  if (skipped.length > 0)
    err(`skipped dead letters that are not CloudEvents: seq ${skipped.join(', ')}`);
  reportCut(page.letters.length, page.matching, err);
  if (failure !== undefined) {
    // A full HERALD_REDRIVE refuses new messages (discard new): say how far it got.
    err(
      `herald dlq redrive: queueing stopped: ${(failure as Error).message}; ` +
        `run it again to queue the rest (what is queued is recognised for ${windowText})`,
    );
    return 1;
  }
  return 0;
}

function formatWindow(ns: number): string {
  const s = Math.round(ns / 1e9);
  return s % 60 === 0 && s > 0 ? `${s / 60}m` : `${s}s`;
}

/** Redrive delivers to the subscription's current sink: it must exist and not be paused. */
async function checkSubscription(js: ReturnType<typeof jetstream>, q: DlqQuery): Promise<void> {
  const id = `${q.namespace}/${q.name}`;
  let entry;
  try {
    const kv = await new Kvm(js).open(CONFIG_BUCKET);
    entry = await kv.get(configKeyFor(ConfigKeyPrefix.Subscription, q.namespace, q.name));
  } catch (cause) {
    throw new DlqError(
      DlqErrorCode.NoSubscription,
      `cannot read the config bucket ${CONFIG_BUCKET} (has the operator run against this NATS?): ${(cause as Error).message}`,
      { cause },
    );
  }
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) {
    throw new DlqError(
      DlqErrorCode.NoSubscription,
      `Subscription ${id} is not in the config: a redrive goes to the subscription's current sink, so there is nowhere to send it`,
    );
  }
  const sub = entry.json<CompiledSubscription>();
  if (sub.paused) {
    throw new DlqError(
      DlqErrorCode.SubscriptionPaused,
      `Subscription ${id} is paused: resume it first, then redrive (redrives for a paused subscription are dropped)`,
    );
  }
}

/** The original event (heralderror* removed), with the headers the dispatcher's redrive reads. */
function toRedriveMessage(
  q: DlqQuery,
  letter: StoredDeadLetter,
): { body: string; headers: ReturnType<typeof natsHeaders>; msgId: string } | undefined {
  let event;
  try {
    event = decodeStructured(letter.data);
  } catch {
    return undefined;
  }
  for (const name of Object.values(DeadLetterAttribute)) delete event.attributes[name];
  const h = natsHeaders();
  h.set('Content-Type', MediaType.Structured);
  h.set(
    DeadLetterHeader.OriginalMsgId,
    letter.headers.originalMsgId ??
      messageIdFor(q.namespace, String(event.attributes.source), String(event.attributes.id)),
  );
  if (letter.headers.producer) h.set(DeadLetterHeader.Producer, letter.headers.producer);
  if (letter.headers.sourceStream)
    h.set(DeadLetterHeader.SourceStream, letter.headers.sourceStream);
  if (letter.headers.sourceSequence !== undefined) {
    h.set(DeadLetterHeader.SourceSequence, String(letter.headers.sourceSequence));
  }
  h.set(RedriveHeader.DeadLetterSequence, String(letter.seq));
  // From the dead letter's sequence: a second redrive within the duplicate window is refused.
  return { body: encodeStructured(event), headers: h, msgId: `herald-redrive-${letter.seq}` };
}

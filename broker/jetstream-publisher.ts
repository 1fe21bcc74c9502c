/**
 * JetStream publishes for the ingest hot path: a core NATS publish with a reply subject, the
 * PubAck read by one subscription shared by every publish of the connection.
 *
 * Why not `jetstream(nc).publish()`: nats.js builds each publish as a request whose `cancel()`
 * constructs a RequestError (a stack trace) even when the PubAck arrives, and adds a deferred,
 * a timer and several promise hops per message: replacing it cut the broker's CPU per event
 * by ~16% for single events and ~35% for batched ones (bench/README.md, issue 3). Here a
 * publish costs one map entry: replies come to
 * `<inbox>.<token>`, one wildcard subscription resolves them, and one timer sweeps deadlines
 * (every publish has the same timeout, so deadlines expire in insertion order).
 *
 * Outcomes, named as nats.js names them so problems.ts maps them unchanged: a PubAck
 * `{stream, seq, duplicate}`; a JetStream API error `{error: {code, err_code, description}}`
 * (JetStreamApiError); a no-responders status (503 without data: no stream listens on the
 * subject → NoResponders); no reply within the timeout (TimeoutError); the connection closing
 * first (ClosedConnectionError). Errors from `nc.publish` itself (closed or draining
 * connection, max_payload) are reported as they are thrown.
 */
import {
  ClosedConnectionError,
  MsgHdrsImpl,
  NoRespondersError,
  TimeoutError,
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';

const MSG_ID_HEADER = 'Nats-Msg-Id';

/**
 * Headers for many publishes: fixed ones set once, `Nats-Msg-Id` replaced per publish. nats.js
 * encodes headers as the publish is made, so one object can serve every publish in turn. Its
 * `set` re-validates and re-canonicalizes the key on each call and `encode` rebuilds the whole
 * text and allocates through a TextEncoder; this one replaces the id's value directly (the key
 * is canonical already) and encodes the fixed part's text, made once, plus the id line through
 * node's Buffer pool — the same bytes, a few tenths of a µs of every stored event.
 */
export class PublishHeaders extends MsgHdrsImpl {
  /**
   * toString() up to the id line: `NATS/1.0` and the fixed headers, as nats.js writes them;
   * undefined when the fixed headers hold an id themselves (then toString() is used).
   */
  private readonly fixedText: string | undefined;
  private id: string | undefined;

  constructor(fixed: Record<string, string>) {
    super();
    for (const [name, value] of Object.entries(fixed)) this.set(name, value);
    const text = super.toString();
    if (text === '') this.fixedText = 'NATS/1.0';
    else if (!this.has(MSG_ID_HEADER)) this.fixedText = text.slice(0, -4); // no blank line
  }

  setMessageId(id: string): void {
    this.id = MsgHdrsImpl.validHeaderValue(id);
    this.headers.set(MSG_ID_HEADER, [this.id]);
  }

  override encode(): Uint8Array {
    // The id was added after the fixed headers, so its line comes last (Map order).
    const text =
      this.id === undefined || this.fixedText === undefined
        ? this.toString()
        : `${this.fixedText}\r\n${MSG_ID_HEADER}: ${this.id}\r\n\r\n`;
    return Buffer.from(text);
  }
}

/** What JetStream acknowledged. */
export interface PublishAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** Told once how a publish ended: an error, or the ack. An object, so no closure per publish. */
export interface PublishListener {
  onPublished(err: Error | undefined, ack: PublishAck | undefined): void;
}

/** JetStream API err_code: JetStream is not enabled for the account. */
const JETSTREAM_NOT_ENABLED = 10039;

/** A JetStream API error in a PubAck (e.g. a stream limit); mapped like nats.js's own. */
export class JetStreamApiError extends Error {
  readonly code: number;
  readonly errCode: number;
  constructor(error: { code?: unknown; err_code?: unknown; description?: unknown }) {
    super(typeof error.description === 'string' ? error.description : 'JetStream API error');
    this.code = typeof error.code === 'number' ? error.code : 0;
    this.errCode = typeof error.err_code === 'number' ? error.err_code : 0;
    // As nats.js names it, so problems.ts tells it apart.
    this.name =
      this.errCode === JETSTREAM_NOT_ENABLED ? 'JetStreamNotEnabled' : 'JetStreamApiError';
  }
}

interface Pending {
  listener: PublishListener;
  subject: string;
  /** performance.now() after which the publish times out. */
  deadline: number;
}

const decoder = new TextDecoder();

export class JetStreamPublisher {
  private readonly prefix: string;
  private readonly subscription: Subscription;
  /** In publish order, so in deadline order. */
  private readonly pending = new Map<string, Pending>();
  private counter = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {
    this.prefix = `${createInbox()}.`;
    this.subscription = nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => (err === null ? this.onReply(msg) : this.failAll(err)),
    });
    void nc.closed().then(() => this.close());
  }

  /** Number of publishes awaiting their PubAck. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Publishes `payload` to `subject` with `headers` (encoded at once: the caller may reuse
   * the object after this returns) and tells `listener` once how it ended.
   */
  publish(
    subject: string,
    payload: string | Uint8Array,
    headers: MsgHdrs,
    listener: PublishListener,
  ): void {
    if (this.closed) return listener.onPublished(new ClosedConnectionError(), undefined);
    const token = (this.counter++).toString(36);
    try {
      this.nc.publish(subject, payload, { reply: this.prefix + token, headers });
    } catch (err) {
      return listener.onPublished(err instanceof Error ? err : new Error(String(err)), undefined);
    }
    this.pending.set(token, { listener, subject, deadline: performance.now() + this.timeoutMs });
    this.sweeper ??= setTimeout(this.sweep, this.timeoutMs);
  }

  /** Fails every publish in flight and stops listening. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new ClosedConnectionError());
    if (!this.subscription.isClosed()) this.subscription.unsubscribe();
  }

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length);
    const entry = this.pending.get(token);
    if (entry === undefined) return; // timed out meanwhile
    this.pending.delete(token);
    const data = msg.data;
    if (data.length === 0 && msg.headers?.code === 503) {
      return entry.listener.onPublished(new NoRespondersError(entry.subject), undefined);
    }
    const ack = parsePubAck(data);
    if (ack instanceof Error) entry.listener.onPublished(ack, undefined);
    else entry.listener.onPublished(undefined, ack);
  }

  /** Times out what is past its deadline; re-arms for the oldest publish still in flight. */
  private readonly sweep = (): void => {
    this.sweeper = undefined;
    const now = performance.now();
    for (const [token, entry] of this.pending) {
      if (entry.deadline > now) {
        this.sweeper = setTimeout(this.sweep, Math.max(1, entry.deadline - now));
        return;
      }
      this.pending.delete(token);
      entry.listener.onPublished(new TimeoutError(), undefined);
    }
  };

  private failAll(err: Error): void {
    const entries = [...this.pending.values()];
    this.pending.clear();
    if (this.sweeper !== undefined) clearTimeout(this.sweeper);
    this.sweeper = undefined;
    for (const entry of entries) entry.listener.onPublished(err, undefined);
  }
}

/**
 * A PubAck's payload: the ack, or the error it reports (JetStreamApiError) or why it is not a
 * PubAck. Exported for tests.
 */
export function parsePubAck(data: Uint8Array): PublishAck | Error {
  const plain = readPlainPubAck(data);
  if (plain !== undefined) return plain;
  let reply: { stream?: unknown; seq?: unknown; duplicate?: unknown; error?: unknown };
  try {
    reply = JSON.parse(decoder.decode(data)) as typeof reply;
  } catch (err) {
    return new Error('invalid PubAck: not JSON', { cause: err });
  }
  if (typeof reply !== 'object' || reply === null) return new Error('invalid PubAck');
  if (typeof reply.error === 'object' && reply.error !== null) {
    return new JetStreamApiError(reply.error);
  }
  if (typeof reply.stream !== 'string' || reply.stream === '' || typeof reply.seq !== 'number') {
    return new Error('invalid PubAck');
  }
  return { stream: reply.stream, seq: reply.seq, duplicate: reply.duplicate === true };
}

const STREAM_PREFIX = Buffer.from('{"stream":"');
const SEQ_MEMBER = Buffer.from(',"seq":');
const DUPLICATE_END = Buffer.from(',"duplicate":true}');

/**
 * The PubAck as nats-server writes it — `{"stream":"S","seq":N}`, or with
 * `,"duplicate":true` — read from its bytes; undefined for anything else (a domain, an
 * error, escapes, a sequence past 15 digits), which JSON.parse then reads.
 */
function readPlainPubAck(data: Uint8Array): PublishAck | undefined {
  const n = data.length;
  if (!startsWith(data, 0, STREAM_PREFIX)) return undefined;
  let i = STREAM_PREFIX.length;
  const streamStart = i;
  while (i < n) {
    const c = data[i] as number;
    if (c === 0x22 /* " */) break;
    if (c === 0x5c /* \ */ || c >= 0x80 || c < 0x20) return undefined;
    i++;
  }
  if (i === streamStart || i === n || !startsWith(data, i + 1, SEQ_MEMBER)) return undefined;
  const streamEnd = i;
  i += 1 + SEQ_MEMBER.length;
  const digitsStart = i;
  let seq = 0;
  while (i < n && (data[i] as number) >= 0x30 && (data[i] as number) <= 0x39) {
    seq = seq * 10 + (data[i] as number) - 0x30;
    i++;
  }
  if (i === digitsStart || i - digitsStart > 15) return undefined;
  let duplicate: boolean;
  if (i === n - 1 && data[i] === 0x7d /* } */) duplicate = false;
  else if (i + DUPLICATE_END.length === n && startsWith(data, i, DUPLICATE_END)) duplicate = true;
  else return undefined;
  return { stream: readStreamName(data, streamStart, streamEnd), seq, duplicate };
}

/** The last stream name read, as bytes and text: PubAcks in a row mostly name one stream. */
let lastStream = { bytes: new Uint8Array(0), name: '' };

function readStreamName(data: Uint8Array, start: number, end: number): string {
  const { bytes, name } = lastStream;
  if (bytes.length === end - start) {
    let same = true;
    for (let k = 0; k < bytes.length && same; k++) same = bytes[k] === data[start + k];
    if (same) return name;
  }
  const copy = data.slice(start, end);
  lastStream = { bytes: copy, name: Buffer.from(copy.buffer, 0, copy.length).toString('latin1') };
  return lastStream.name;
}

function startsWith(data: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > data.length) return false;
  for (let k = 0; k < prefix.length; k++) if (data[at + k] !== prefix[k]) return false;
  return true;
}

/**
 * The delivery ledger's wire client: "is this key there?" and "write this key" on the KV bucket
 * `herald-delivered`, as plain NATS requests over one shared reply subscription.
 *
 * Not @nats-io/kv's get()/put(), because they sit on the hot path (one of each per delivery)
 * and nats.js request() builds an Error with a stack trace for every request, even a
 * successful one (RequestOne.cancel), plus a timer and a deferred per request: profiled at
 * ~12% of the dispatcher's CPU and ~25 µs per delivery. Here a request is one map entry, and
 * one sweep timer expires them all. The bucket itself is still created by Kvm, so its shape
 * is exactly what `nats kv` and the operator expect.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import {
  createInbox,
  Empty,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import {
  LEDGER_BUCKET,
  LEDGER_BUCKET_DESCRIPTION,
  LEDGER_DEFAULT_WINDOW_MS,
  LEDGER_STREAM,
} from '../core/topology.js';
import { sendSoon } from '../core/nats-write-batch.js';

export const LedgerErrorCode = {
  /** No answer within the request timeout (NATS down, reconnecting, or overloaded). */
  Timeout: 'ERR_LEDGER_TIMEOUT',
  /** No stream answers a write for the bucket: it was deleted (repair() recreates it). */
  BucketMissing: 'ERR_LEDGER_BUCKET_MISSING',
  /** JetStream answered with an error (limits, permissions…). */
  Refused: 'ERR_LEDGER_REFUSED',
  /** The client was closed, or the NATS connection is closed. */
  Closed: 'ERR_LEDGER_CLOSED',
} as const;
export type LedgerErrorCode = (typeof LedgerErrorCode)[keyof typeof LedgerErrorCode];

export class LedgerError extends Error {
  readonly code: LedgerErrorCode;
  constructor(code: LedgerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LedgerError';
    this.code = code;
  }
}

/** What the ledger needs from its storage; tests substitute slow or failing ones. */
export interface LedgerStore {
  /** Whether `key` holds a live entry. Rejects when the bucket cannot be read. */
  has(key: string): Promise<boolean>;
  /** Writes `key`; resolves once JetStream has stored it. */
  put(key: string, value: string): Promise<void>;
  /** Called after a failed request, before the next try: recreates a vanished bucket. */
  repair(err: unknown): Promise<void>;
  close(): void;
}

export interface OpenLedgerStoreOptions {
  nc: NatsConnection;
  js: JetStreamClient;
  /** TTL for a bucket this call creates; an existing bucket keeps its own (the operator's). */
  windowMs?: number;
  /** Per request (default 2 s, as @nats-io/kv's). */
  timeoutMs?: number;
}

export interface OpenedLedgerStore {
  store: LedgerStore;
  /** The bucket's actual TTL in ms (0 = entries never expire). */
  windowMs: number;
}

const KV_OPERATION = 'KV-Operation';
const NOT_FOUND = 404;
const NO_RESPONDERS = 503;
/** JetStream err_codes of a stream-message get. */
const NO_MESSAGE_FOUND = 10037;
const STREAM_NOT_FOUND = 10059;
const SWEEP_EVERY_MS = 250;
/** A vanished bucket is recreated at most this often, however many deliveries notice. */
const REPAIR_EVERY_MS = 1_000;

/** Opens the ledger bucket, creating it (with `windowMs`) when nobody has yet. */
export async function openLedgerStore(options: OpenLedgerStoreOptions): Promise<OpenedLedgerStore> {
  const windowMs = options.windowMs ?? LEDGER_DEFAULT_WINDOW_MS;
  const open = async (): Promise<{ direct: boolean; windowMs: number }> => {
    const kv = await new Kvm(options.js).create(LEDGER_BUCKET, {
      history: 1,
      ttl: windowMs,
      description: LEDGER_BUCKET_DESCRIPTION,
    });
    const status = await kv.status();
    return { direct: status.streamInfo.config.allow_direct === true, windowMs: status.ttl };
  };
  const first = await open();
  const store = new NatsLedgerStore(options.nc, first.direct, options.timeoutMs ?? 2_000, open);
  return { store, windowMs: first.windowMs };
}

interface Pending {
  resolve: (msg: Msg) => void;
  reject: (err: LedgerError) => void;
  deadline: number;
}

class NatsLedgerStore implements LedgerStore {
  readonly #pending = new Map<string, Pending>();
  readonly #inbox = createInbox();
  readonly #sub: Subscription;
  readonly #sweep: NodeJS.Timeout;
  #next = 0;
  #closed = false;
  #lastRepair = 0;
  #repairing: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    /** Direct get (any replica answers) when the bucket allows it; else the stream API. */
    private direct: boolean,
    private readonly timeoutMs: number,
    private readonly reopen: () => Promise<{ direct: boolean }>,
  ) {
    const skip = this.#inbox.length + 1;
    this.#sub = nc.subscribe(`${this.#inbox}.*`, {
      callback: (_err, msg) => {
        const token = msg.subject.slice(skip);
        const pending = this.#pending.get(token);
        if (!pending) return; // timed out already
        this.#pending.delete(token);
        pending.resolve(msg);
      },
    });
    this.#sweep = setInterval(() => this.expire(), SWEEP_EVERY_MS);
    this.#sweep.unref();
  }

  async has(key: string): Promise<boolean> {
    const subject = `$KV.${LEDGER_BUCKET}.${key}`;
    if (this.direct) {
      const msg = await this.request(`$JS.API.DIRECT.GET.${LEDGER_STREAM}.${subject}`, Empty);
      const code = msg.headers?.code ?? 0;
      if (code === NOT_FOUND) return false;
      if (code === NO_RESPONDERS) throw bucketMissing();
      if (code !== 0) throw refused(`${code} ${msg.headers?.description ?? ''}`);
      return isLiveEntry(msg.headers?.get(KV_OPERATION));
    }
    const msg = await this.request(
      `$JS.API.STREAM.MSG.GET.${LEDGER_STREAM}`,
      JSON.stringify({ last_by_subj: subject }),
    );
    if (msg.headers?.code === NO_RESPONDERS) throw bucketMissing();
    const reply = msg.json<{
      message?: { hdrs?: string };
      error?: { err_code?: number; description?: string };
    }>();
    if (reply.error) {
      if (reply.error.err_code === NO_MESSAGE_FOUND) return false;
      if (reply.error.err_code === STREAM_NOT_FOUND) throw bucketMissing();
      throw refused(reply.error.description ?? 'stream message get failed');
    }
    const headers = reply.message?.hdrs ? Buffer.from(reply.message.hdrs, 'base64').toString() : '';
    return isLiveEntry(/\r\nKV-Operation:\s*(\w+)/i.exec(headers)?.[1]);
  }

  async put(key: string, value: string): Promise<void> {
    const msg = await this.request(`$KV.${LEDGER_BUCKET}.${key}`, value);
    if (msg.headers?.code === NO_RESPONDERS) throw bucketMissing();
    // A PubAck is {"stream":…,"seq":…}; only an error needs parsing.
    const text = msg.string();
    if (text.includes('"error"')) {
      const reply = JSON.parse(text) as { error?: { description?: string } };
      if (reply.error) throw refused(reply.error.description ?? text);
    }
  }

  /**
   * A deleted bucket shows as 503 on a write but as silence on a direct get (the JetStream API
   * import still takes the request): so a timeout also checks, at most once a second.
   */
  repair(err: unknown): Promise<void> {
    const suspect =
      err instanceof LedgerError &&
      (err.code === LedgerErrorCode.BucketMissing || err.code === LedgerErrorCode.Timeout);
    if (!suspect) return Promise.resolve();
    if (this.#repairing || Date.now() - this.#lastRepair < REPAIR_EVERY_MS) {
      return this.#repairing ?? Promise.resolve();
    }
    this.#lastRepair = Date.now();
    this.#repairing = this.reopen()
      .then(({ direct }) => {
        this.direct = direct;
      })
      .finally(() => (this.#repairing = undefined));
    return this.#repairing;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    if (!this.nc.isClosed()) this.#sub.unsubscribe();
    for (const [token, p] of this.#pending) {
      this.#pending.delete(token);
      p.reject(new LedgerError(LedgerErrorCode.Closed, 'the delivery ledger is closed'));
    }
  }

  private request(subject: string, data: Uint8Array | string): Promise<Msg> {
    if (this.#closed || this.nc.isClosed()) {
      return Promise.reject(new LedgerError(LedgerErrorCode.Closed, 'the ledger client is closed'));
    }
    const token = (this.#next++).toString(36);
    return new Promise<Msg>((resolve, reject) => {
      this.#pending.set(token, { resolve, reject, deadline: Date.now() + this.timeoutMs });
      // While reconnecting, nats.js buffers this and sends it once connected.
      sendSoon(
        () => this.nc.publish(subject, data, { reply: `${this.#inbox}.${token}` }),
        (err) => {
          this.#pending.delete(token);
          reject(new LedgerError(LedgerErrorCode.Closed, String(err), { cause: err }));
        },
      );
    });
  }

  private expire(): void {
    const now = Date.now();
    for (const [token, p] of this.#pending) {
      if (p.deadline > now) continue;
      this.#pending.delete(token);
      p.reject(new LedgerError(LedgerErrorCode.Timeout, `no answer within ${this.timeoutMs} ms`));
    }
  }
}

/** A KV delete or purge marker is no delivery. */
function isLiveEntry(operation: string | undefined): boolean {
  return operation !== 'DEL' && operation !== 'PURGE';
}

function bucketMissing(): LedgerError {
  return new LedgerError(
    LedgerErrorCode.BucketMissing,
    `no stream answers for the ledger bucket ${LEDGER_BUCKET}`,
  );
}

function refused(detail: string): LedgerError {
  return new LedgerError(LedgerErrorCode.Refused, `JetStream refused: ${detail.trim()}`);
}

/**
 * The attempts log (DESIGN.md §3): one JSON record per delivery attempt, published to the
 * stream HERALD_ATTEMPTS on `herald.attempts.<ns>.<subscription>`, for `herald attempts` and
 * anyone asking "what did my webhook answer?". The stream is the operator's (bounded in age and
 * size: operator/jetstream-config.ts).
 *
 * Diagnostics must never slow or block delivery: a record is published without awaiting its
 * acknowledgement, at most `maxPending` are awaiting one at a time, and past that records are
 * dropped and counted. Failed publishes (the stream missing, NATS away) are counted too and
 * logged at most once per interval. A record holds what the sink answered and when — never the
 * request, the event's data, headers or any credential.
 */
import {
  createInbox,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';
import type { Logger } from '../core/logging.js';
import { sendSoon } from '../core/nats-write-batch.js';
import { attemptsSubjectFor } from '../core/topology.js';
import type { AttemptRecord, DeliveryHooks } from './delivery-hooks.js';
import type { DispatcherMetrics } from './metrics.js';
import type { AttemptFailure, DeadLetterCode, NextStep } from './retry.js';

/** What the dispatcher decided after the attempt (the NextStep action, as users call it). */
export const AttemptOutcome = {
  Delivered: 'delivered',
  /** nak'd with a delay: `retryInMs` later. */
  Retry: 'retry',
  DeadLetter: 'dead_letter',
  /** 410 Gone: the event is kept and the subscription paused. */
  Pause: 'pause',
} as const;
export type AttemptOutcome = (typeof AttemptOutcome)[keyof typeof AttemptOutcome];

/** One attempt as stored in HERALD_ATTEMPTS (JSON). Field names are a contract: add, never rename. */
export interface AttemptLogEntry {
  /** Start of the request, RFC 3339 UTC with milliseconds. */
  time: string;
  /** `<namespace>/<name>` */
  subscription: string;
  eventId: string;
  eventType: string;
  source: string;
  webhookId: string;
  /** Where the event is stored: its EventType stream and sequence. */
  stream: string;
  sequence: number;
  /** 1 for the first attempt (JetStream's delivery count). */
  attempt: number;
  maxAttempts: number;
  outcome: AttemptOutcome;
  /** The HTTP status, when the sink answered. */
  status?: number;
  /** Why there was no answer: timeout, network, internal, forbidden_address. */
  failure?: AttemptFailure;
  /** Request start to response headers (or failure), in ms. */
  latencyMs: number;
  /** One line saying what went wrong; absent when delivered. */
  error?: string;
  /** The start of a non-2xx response body, at most 1 KiB (cut on a UTF-8 boundary). */
  responseExcerpt?: string;
  /** outcome retry: the delay before the next attempt. */
  retryInMs?: number;
  /** outcome dead_letter: the heralderrorcode of the dead letter. */
  deadLetterCode?: DeadLetterCode;
}

const OUTCOME_OF: Record<NextStep['action'], AttemptOutcome> = {
  ack: AttemptOutcome.Delivered,
  nak: AttemptOutcome.Retry,
  dead_letter: AttemptOutcome.DeadLetter,
  pause: AttemptOutcome.Pause,
};

/** The stored record of one attempt: only what the sink answered, never what was sent. */
export function buildAttemptLogEntry(record: AttemptRecord): AttemptLogEntry {
  const { subscription: sub, event, result, step } = record;
  const entry: AttemptLogEntry = {
    time: new Date(record.startedAt).toISOString(),
    subscription: sub.id,
    eventId: String(event.attributes.id),
    eventType: String(event.attributes.type),
    source: String(event.attributes.source),
    webhookId: record.webhookId,
    stream: record.stream,
    sequence: record.streamSequence,
    attempt: record.attempt,
    maxAttempts: sub.retry.maxAttempts,
    outcome: OUTCOME_OF[step.action],
    latencyMs: Math.round(record.latencyMs * 10) / 10,
  };
  if (result.kind === 'response') entry.status = result.status;
  else entry.failure = result.failure;
  if (step.action !== 'ack') entry.error = step.reason;
  if (result.kind === 'response' && result.bodyExcerpt) {
    entry.responseExcerpt = result.bodyExcerpt;
  }
  if (step.action === 'nak') entry.retryInMs = step.delayMs;
  if (step.action === 'dead_letter') entry.deadLetterCode = step.code;
  return entry;
}

export const AttemptRecordResult = {
  /** Stored in HERALD_ATTEMPTS (acknowledged). */
  Published: 'published',
  /** Refused, unanswered or timed out. */
  Failed: 'failed',
  /** Not sent: too many records were awaiting acknowledgement. */
  Dropped: 'dropped',
} as const;
export type AttemptRecordResult = (typeof AttemptRecordResult)[keyof typeof AttemptRecordResult];

export interface AttemptsLogOptions {
  nc: NatsConnection;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** Records awaiting acknowledgement at once; past it new ones are dropped. Default 1,000. */
  maxPending?: number;
  /** Acknowledgement timeout per record, ms. Default 5 s. */
  timeoutMs?: number;
  /** At most one warning per this many ms about failed or dropped records. Default 60 s. */
  warnEveryMs?: number;
}

const DEFAULT_MAX_PENDING = 1_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_WARN_EVERY_MS = 60_000;
const SWEEP_EVERY_MS = 1_000;
/** The status a NATS reply carries when nothing listens on the subject: no stream takes it. */
const NO_RESPONDERS = 503;

/**
 * The attempts-log hook: add it to the supervisor's hooks; close() before draining NATS.
 *
 * Records are JetStream publishes (a reply subject, so the stream acknowledges them) sent with
 * a plain NATS publish: every ack comes back on one wildcard inbox, and one timer expires the
 * unanswered. js.publish() would cost a promise, a timer and a request object per record:
 * measured ~25 µs of CPU per record against ~8 µs this way.
 */
export class AttemptsLog implements DeliveryHooks {
  private readonly o: AttemptsLogOptions;
  private readonly log: Logger;
  private readonly maxPending: number;
  private readonly timeoutMs: number;
  private readonly warnEveryMs: number;
  private readonly inbox = createInbox();
  private readonly sub: Subscription;
  private readonly sweep: NodeJS.Timeout;
  /** Reply token → deadline (ms since the epoch) of each record awaiting its ack. */
  private readonly awaiting = new Map<string, number>();
  /** The counter's child for the common case, bound once (labels are hashed on every inc()). */
  private readonly published: { inc(): void };
  private next = 0;
  private closed = false;
  private onIdle: (() => void) | undefined;
  /** Problems since the last warning, and the last error seen. */
  private unreported = { failed: 0, dropped: 0, error: undefined as string | undefined };
  private lastWarnAt = -Infinity;

  constructor(options: AttemptsLogOptions) {
    this.o = options;
    this.log = options.logger.child({ part: 'attempts-log' });
    this.maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.warnEveryMs = options.warnEveryMs ?? DEFAULT_WARN_EVERY_MS;
    this.published = options.metrics.attemptRecords.labels({
      result: AttemptRecordResult.Published,
    });
    const skip = this.inbox.length + 1;
    this.sub = options.nc.subscribe(`${this.inbox}.*`, {
      callback: (_err, msg) => this.acknowledged(msg.subject.slice(skip), msg),
    });
    this.sweep = setInterval(() => this.expire(), SWEEP_EVERY_MS);
    this.sweep.unref();
  }

  /** Records published and not yet acknowledged (nor failed). */
  get pending(): number {
    return this.awaiting.size;
  }

  afterAttempt(record: AttemptRecord): void {
    if (this.closed || this.awaiting.size >= this.maxPending) {
      this.problem(AttemptRecordResult.Dropped);
      return;
    }
    const { namespace, name } = record.subscription;
    const body = JSON.stringify(buildAttemptLogEntry(record));
    const token = (this.next++).toString(36);
    this.awaiting.set(token, Date.now() + this.timeoutMs);
    // While reconnecting, nats.js buffers this and sends it once connected.
    sendSoon(
      () =>
        this.o.nc.publish(attemptsSubjectFor(namespace, name), body, {
          reply: `${this.inbox}.${token}`,
        }),
      (err) => {
        this.awaiting.delete(token);
        this.problem(AttemptRecordResult.Failed, `cannot publish: ${String(err)}`);
        if (this.awaiting.size === 0) this.onIdle?.();
      },
    );
  }

  /**
   * Stops taking records and waits (at most `timeoutMs`) for those awaiting acknowledgement,
   * so draining NATS does not cut them off. Reports problems not yet logged.
   */
  async close(timeoutMs = this.timeoutMs): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      if (this.awaiting.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          this.onIdle = resolve;
          timer = setTimeout(resolve, timeoutMs);
        });
        clearTimeout(timer);
      }
      clearInterval(this.sweep);
      if (!this.o.nc.isClosed()) this.sub.unsubscribe();
      if (this.awaiting.size > 0) {
        const lost = this.awaiting.size;
        this.awaiting.clear();
        this.problem(
          AttemptRecordResult.Failed,
          'not acknowledged before the dispatcher stopped',
          lost,
        );
      }
    }
    this.maybeWarn(true);
  }

  private acknowledged(token: string, msg: Msg): void {
    if (!this.awaiting.delete(token)) return; // expired already
    const code = msg.headers?.code ?? 0;
    if (code === NO_RESPONDERS) {
      this.problem(
        AttemptRecordResult.Failed,
        'no stream takes herald.attempts.>: HERALD_ATTEMPTS is missing (the operator creates it)',
      );
    } else if (code !== 0) {
      this.problem(AttemptRecordResult.Failed, `NATS status ${code} ${msg.headers?.description}`);
    } else {
      // A PubAck is {"stream":…,"seq":…}; only an error needs parsing.
      const text = msg.string();
      if (text.includes('"error"')) {
        this.problem(AttemptRecordResult.Failed, `JetStream refused: ${describeApiError(text)}`);
      } else {
        this.published.inc();
      }
    }
    if (this.awaiting.size === 0) this.onIdle?.();
  }

  /** Every second: fails the records unanswered for too long, and logs what piled up. */
  private expire(): void {
    const now = Date.now();
    let expired = 0;
    for (const [token, deadline] of this.awaiting) {
      if (deadline > now) continue;
      this.awaiting.delete(token);
      expired++;
    }
    if (expired > 0) {
      const error = `no acknowledgement within ${this.timeoutMs} ms`;
      this.problem(AttemptRecordResult.Failed, error, expired);
      if (this.awaiting.size === 0) this.onIdle?.();
    }
    this.maybeWarn();
  }

  private problem(result: 'failed' | 'dropped', error?: string, count = 1): void {
    this.o.metrics.attemptRecords.inc({ result }, count);
    this.unreported[result] += count;
    if (error !== undefined) this.unreported.error = error;
    this.maybeWarn();
  }

  /** One warning per interval, with the counts since the previous one. */
  private maybeWarn(force = false): void {
    const { failed, dropped, error } = this.unreported;
    if (failed + dropped === 0) return;
    const now = performance.now();
    if (!force && now - this.lastWarnAt < this.warnEveryMs) return;
    this.lastWarnAt = now;
    this.unreported = { failed: 0, dropped: 0, error: undefined };
    this.log.warn(
      { failed, dropped, maxPending: this.maxPending, ...(error !== undefined && { error }) },
      'attempt records not stored in HERALD_ATTEMPTS; delivery is unaffected',
    );
  }
}

/** The description of a JetStream API error reply, or the reply itself. */
function describeApiError(text: string): string {
  try {
    const reply = JSON.parse(text) as { error?: { description?: string } };
    return reply.error?.description ?? text;
  } catch {
    return text.slice(0, 200);
  }
}

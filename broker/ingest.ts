/**
 * The ingest pipeline — authenticate → authorize → validate → publish — independent of the
 * transport, so HTTP and (later) gRPC share it. Every refusal is a thrown ProblemError; the
 * transport turns it into a response. Everything before publish is synchronous: the only
 * async hop per event is the JetStream PubAck. The checks themselves: event-checks.ts; how a
 * publish reports back: ingest-listeners.ts.
 */
import { encodeStructured } from '../core/cloudevents/index.js';
import { MediaType, type CloudEvent } from '../core/cloudevents/types.js';
import type { ConfigCache } from '../core/config/kv.js';
import type { CompiledEventType, CompiledProducer } from '../core/config/model.js';
import { messageIdFor } from '../core/topology.js';
import type { AuthAttempt, ProducerAuthenticator } from './auth/authenticator.js';
import type { ProducerCredentials } from './auth/credentials.js';
import { checkPermission, findEventType, validateEventData } from './event-checks.js';
import {
  BatchOutcome,
  PromiseOutcome,
  QueuedPublish,
  SingleOutcome,
  type StoreListener,
} from './ingest-listeners.js';
import { PublishHeaders, type JetStreamPublisher } from './jetstream-publisher.js';
import { EventOutcome, UNKNOWN_LABEL, type BrokerMetrics } from './metrics.js';
import { ProblemError, ProblemKind, buildUnavailableProblem } from './problems.js';
import { buildProducerRules, type ProducerRules } from './producer-rules.js';
import { buildRateLimitProblem, type ProducerRateLimiter } from './rate-limit.js';
import type { SchemaValidators } from './schemas.js';

/** What the producer is told for each stored event (DESIGN.md §4). */
export interface Receipt {
  id: string;
  source: string;
  type: string;
  /** Stream sequence of the stored event (the original one for a duplicate). */
  sequence: number;
  duplicate: boolean;
  /** Present (true) when the EventType is marked deprecated: the producer should move on. */
  deprecated?: true;
}

/** Header on every stored message naming the producer that published it: `<ns>/<name>`. */
export const PRODUCER_HEADER = 'Herald-Producer';
/** Stored messages are CloudEvents in structured JSON form. */
export const STORED_CONTENT_TYPE = `${MediaType.Structured}; charset=utf-8`;

export interface IngestOptions {
  cache: ConfigCache;
  /** Publishes to JetStream and reads the PubAcks (its timeout bounds the wait: then 503). */
  publisher: JetStreamPublisher;
  validators: SchemaValidators;
  metrics: BrokerMetrics;
  /** False while NATS is disconnected: publishes then fail fast with 503 instead of queueing. */
  isConnected: () => boolean;
  /** Per-producer token buckets; absent = no rate limits. */
  rateLimiter?: ProducerRateLimiter;
  /** API keys, HMAC signatures, JWTs (broker/auth/). */
  authenticator: ProducerAuthenticator;
}

/** An event that passed authorization and validation, ready to publish. */
interface AcceptedEvent {
  event: CloudEvent;
  eventType: CompiledEventType;
}

/**
 * Told how ingesting ended: the receipts (one, or one per event of a batch), or the refusal
 * (a ProblemError). The HTTP binding implements it once per request: no closures per call.
 */
export interface IngestListener {
  onAccepted(receipts: Receipt | Receipt[]): void;
  onRefused(err: unknown): void;
}

export class IngestPipeline {
  private readonly rules = new WeakMap<CompiledProducer, ProducerRules>();
  /** Per producer, the headers of its stored messages; Nats-Msg-Id is set per publish. */
  private readonly headers = new WeakMap<CompiledProducer, PublishHeaders>();

  constructor(private readonly options: IngestOptions) {}

  /**
   * Starts authenticating from the credentials alone (ProducerAuthenticator.start): throws a
   * 401 ProblemError at once when they cannot be right; an API key's producer is known at
   * once, other methods finish with `complete(rawBody)`.
   */
  startAuthentication(credentials: ProducerCredentials): AuthAttempt {
    return this.options.authenticator.start(credentials);
  }

  /**
   * The producer the credentials belong to, in one step (for transports holding the whole
   * message, e.g. gRPC); `body` is what an HMAC signature covers. Rejects with a ProblemError.
   */
  authenticate(credentials: ProducerCredentials, body?: Uint8Array): Promise<CompiledProducer> {
    return this.options.authenticator.authenticate(credentials, body);
  }

  /** The EventType the producer publishes `event` as; 422 when unregistered, 403 when not allowed. */
  authorize(producer: CompiledProducer, event: CloudEvent): CompiledEventType {
    const et = findEventType(this.options.cache, producer, event);
    checkPermission(this.rulesOf(producer), producer, et, event);
    return et;
  }

  /** authorize + validate; the EventType found (if any) is reported to `found` for metrics. */
  private check(
    producer: CompiledProducer,
    event: CloudEvent,
    found: { et?: CompiledEventType },
  ): CompiledEventType {
    const et = findEventType(this.options.cache, producer, event);
    found.et = et;
    checkPermission(this.rulesOf(producer), producer, et, event);
    validateEventData(this.options.validators, et, event);
    return et;
  }

  /** Checks `data` against the type's `dataContentType` and schema (event-checks.ts); 422. */
  validate(et: CompiledEventType, event: CloudEvent): void {
    validateEventData(this.options.validators, et, event);
  }

  /** Stores one event; resolves with its receipt, rejects with a 503 (or 413) ProblemError. */
  publish(producer: CompiledProducer, et: CompiledEventType, event: CloudEvent): Promise<Receipt> {
    return new Promise((resolve, reject) =>
      this.store(producer, et, event, new PromiseOutcome(resolve, reject), 0),
    );
  }

  /** publish() telling a listener: no promise or closure per event on the hot path. */
  private store(
    producer: CompiledProducer,
    et: CompiledEventType,
    event: CloudEvent,
    listener: StoreListener,
    index: number,
  ): void {
    const id = event.attributes.id as string;
    const source = event.attributes.source as string;
    if (!this.options.isConnected()) {
      return listener.onStoreFailed(buildUnavailableProblem('NATS is not connected'), index);
    }
    let body: string;
    try {
      body = encodeStructured(event);
    } catch (err) {
      return listener.onStoreFailed(wrapAsProblemError(err), index);
    }
    const queued = new QueuedPublish(
      et.subject,
      body,
      messageIdFor(producer.namespace, source, id),
      this.headersOf(producer),
      { id, source, type: et.type, deprecated: et.deprecated === true },
      this.options.metrics,
      listener,
      index,
    );
    if (this.publishQueue.push(queued) === 1) setImmediate(this.flushPublishQueue);
  }

  /**
   * Publishes queued since the last turn of the event loop go out together: nats.js writes
   * to its socket once per microtask checkpoint, and node runs one after each request's
   * callbacks, so without the queue every request would cost a write of its own.
   */
  private publishQueue: QueuedPublish[] = [];
  private readonly flushPublishQueue = (): void => {
    const queue = this.publishQueue;
    this.publishQueue = [];
    const { publisher } = this.options;
    const now = performance.now();
    for (const p of queue) {
      p.sentAt = now;
      // The producer's headers object is shared: publish() encodes it before returning.
      p.headers.setMessageId(p.msgID);
      // Buffer.from takes small strings from node's pool: cheaper than nats.js's TextEncoder.
      publisher.publish(p.subject, Buffer.from(p.body), p.headers, p);
      p.body = ''; // the entry waits for its PubAck: not the bytes
    }
  };

  /**
   * The whole pipeline after authentication for one event; records its outcome in metrics.
   * Rejects with a ProblemError.
   */
  ingestOne(producer: CompiledProducer, event: CloudEvent): Promise<Receipt> {
    return new Promise((resolve, reject) =>
      this.ingestOneTo(producer, event, new PromiseOutcome(resolve, reject)),
    );
  }

  /** ingestOne() telling a listener (the HTTP binding's way: no promise per request). */
  ingestOneTo(producer: CompiledProducer, event: CloudEvent, listener: IngestListener): void {
    const wait = this.options.rateLimiter?.take(producer, 1) ?? 0;
    if (wait !== 0) return listener.onRefused(this.refuseOverLimit(producer, [event], wait));
    const found: { et?: CompiledEventType } = {};
    let accepted: CompiledEventType;
    try {
      accepted = this.check(producer, event, found);
    } catch (err) {
      this.recordFailure(producer, found.et, err);
      return listener.onRefused(err);
    }
    this.store(producer, accepted, event, new SingleOutcome(this, producer, accepted, listener), 0);
  }

  /**
   * A batch: every event is authorized and validated before any is stored, then all are
   * published at once. A refusal names the first failing event (`index`) and lists every
   * failure; when storing fails part-way the 503 lists what was stored (`stored`) and what
   * was not (`failed`), and retrying the whole batch is safe because of dedup.
   */
  async ingestBatch(producer: CompiledProducer, events: CloudEvent[]): Promise<Receipt[]> {
    const wait = this.options.rateLimiter?.take(producer, events.length) ?? 0;
    if (wait !== 0) throw this.refuseOverLimit(producer, events, wait);
    const accepted: AcceptedEvent[] = [];
    const failures: { index: number; error: ProblemError }[] = [];
    for (let index = 0; index < events.length; index++) {
      const event = events[index] as CloudEvent;
      const found: { et?: CompiledEventType } = {};
      try {
        accepted.push({ event, eventType: this.check(producer, event, found) });
      } catch (err) {
        this.recordFailure(producer, found.et, err);
        failures.push({ index, error: wrapAsProblemError(err) });
      }
    }
    if (failures.length > 0) {
      for (const a of accepted)
        this.recordOutcome(producer, a.eventType, EventOutcome.BatchRejected);
      throw buildBatchRefusal(failures, events.length);
    }
    const total = events.length;
    const stored = this.storeAll(producer, accepted);
    // Only the types are needed from here: the events (parsed data, the request text their
    // data slices point into) can go while the PubAcks come back.
    const types = accepted.map((a) => a.eventType);
    accepted.length = 0;
    const results = await stored;
    const receipts: Receipt[] = [];
    let firstError: ProblemError | undefined;
    for (let index = 0; index < results.length; index++) {
      const result = results[index] as Receipt | ProblemError;
      const et = types[index] as CompiledEventType;
      if (result instanceof ProblemError) {
        this.recordFailure(producer, et, result);
        firstError ??= result;
      } else {
        receipts.push(result);
        this.recordReceipt(producer, et, result);
      }
    }
    if (firstError !== undefined) {
      // Which events were stored and which not: only a failure's answer lists them.
      const storedEvents: (Receipt & { index: number })[] = [];
      const failed: number[] = [];
      results.forEach((result, index) => {
        if (result instanceof ProblemError) failed.push(index);
        else storedEvents.push({ index, ...result });
      });
      throw new ProblemError(
        firstError.kind,
        `${storedEvents.length} of ${total} events were stored; ${firstError.problem.detail}`,
        {
          extensions: { stored: storedEvents, failed },
          headers: firstError.headers,
          reason: firstError.reason,
          cause: firstError,
        },
      );
    }
    return receipts;
  }

  /** Stores every event at once; resolves when all are settled, each with a receipt or its error. */
  private storeAll(
    producer: CompiledProducer,
    accepted: AcceptedEvent[],
  ): Promise<(Receipt | ProblemError)[]> {
    if (accepted.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const outcome = new BatchOutcome(accepted.length, resolve);
      accepted.forEach(({ event, eventType }, index) =>
        this.store(producer, eventType, event, outcome, index),
      );
    });
  }

  /** Counts a request refused before any event was known (401, 400, 413, 415, …). */
  recordRequestFailure(producer: CompiledProducer | undefined, err: unknown): void {
    this.recordFailure(producer, undefined, err);
  }

  /** The 429 (or 413 batch-too-large) for events over the limit, counted per event. */
  private refuseOverLimit(
    producer: CompiledProducer,
    events: readonly CloudEvent[],
    waitSeconds: number,
  ): ProblemError {
    const error = buildRateLimitProblem(producer, events.length, waitSeconds);
    for (const event of events) {
      const type = event.attributes.type as string;
      const et = this.options.cache.findEventTypeByCeType(producer.namespace, type);
      this.recordOutcome(producer, et, error.kind.outcome);
    }
    if (error.kind === ProblemKind.RateLimited) {
      this.options.metrics.recordRateLimited(producer.namespace, producer.name, events.length);
    }
    return error;
  }

  /** The producer's stored-message headers (one object, reused: see flushPublishQueue). */
  private headersOf(producer: CompiledProducer): PublishHeaders {
    let h = this.headers.get(producer);
    if (h === undefined) {
      h = new PublishHeaders({
        [PRODUCER_HEADER]: this.rulesOf(producer).id,
        'Content-Type': STORED_CONTENT_TYPE,
      });
      this.headers.set(producer, h);
    }
    return h;
  }

  private rulesOf(producer: CompiledProducer): ProducerRules {
    let rules = this.rules.get(producer);
    if (rules === undefined) {
      rules = buildProducerRules(producer);
      this.rules.set(producer, rules);
    }
    return rules;
  }

  /** Counts a stored event (for the outcome listeners above). */
  recordReceipt(producer: CompiledProducer, et: CompiledEventType, r: Receipt): void {
    this.recordOutcome(producer, et, r.duplicate ? EventOutcome.Duplicate : EventOutcome.Accepted);
  }

  /** Counts an event refused or not stored. */
  recordFailure(
    producer: CompiledProducer | undefined,
    et: CompiledEventType | undefined,
    err: unknown,
  ): void {
    this.recordOutcome(producer, et, wrapAsProblemError(err).kind.outcome);
  }

  private recordOutcome(
    producer: CompiledProducer | undefined,
    et: CompiledEventType | undefined,
    outcome: string,
  ): void {
    this.options.metrics.recordEvent(
      producer?.namespace ?? UNKNOWN_LABEL,
      et?.type ?? UNKNOWN_LABEL,
      producer?.name ?? UNKNOWN_LABEL,
      outcome,
    );
  }
}

function buildBatchRefusal(
  failures: { index: number; error: ProblemError }[],
  total: number,
): ProblemError {
  const first = failures[0] as { index: number; error: ProblemError };
  const { type: _t, title: _ti, status: _s, detail: _d, ...firstExtensions } = first.error.problem;
  return new ProblemError(
    first.error.kind,
    `Event ${first.index} of the batch: ${first.error.problem.detail}` +
      (failures.length > 1 ? ` (${failures.length} of ${total} events refused)` : '') +
      '. Nothing was stored.',
    {
      extensions: {
        ...firstExtensions,
        index: first.index,
        failures: failures.map(({ index, error }) => {
          const { title: _title, ...rest } = error.problem;
          return { index, ...rest };
        }),
      },
      headers: first.error.headers,
      reason: `event ${first.index}: ${first.error.reason}`,
    },
  );
}

/** Anything thrown in the pipeline as a ProblemError (unexpected errors become 500s). */
export function wrapAsProblemError(err: unknown): ProblemError {
  if (err instanceof ProblemError) return err;
  return new ProblemError(ProblemKind.InternalError, 'The broker failed to handle the request.', {
    reason: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
    cause: err,
  });
}

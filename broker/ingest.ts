/**
 * The ingest pipeline — authenticate → authorize → validate → publish — independent of the
 * transport, so HTTP and (later) gRPC share it. Every refusal is a thrown ProblemError; the
 * transport turns it into a response. Everything before publish is synchronous: the only
 * async hop per event is the JetStream PubAck.
 */
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { headers as createHeaders } from '@nats-io/transport-node';
import { encodeStructured } from '../core/cloudevents/index.js';
import { MediaType, type CloudEvent } from '../core/cloudevents/types.js';
import type { ConfigCache } from '../core/config/kv.js';
import type { CompiledEventType, CompiledProducer } from '../core/config/model.js';
import { messageIdFor } from '../core/topology.js';
import type { AuthAttempt, ProducerAuthenticator } from './auth/authenticator.js';
import type { ProducerCredentials } from './auth/credentials.js';
import { EventOutcome, UNKNOWN_LABEL, type BrokerMetrics } from './metrics.js';
import { ProblemError, ProblemKind, buildUnavailableProblem, mapPublishError } from './problems.js';
import { buildProducerRules, isSourceAllowed, type ProducerRules } from './producer-rules.js';
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
}

/** Header on every stored message naming the producer that published it: `<ns>/<name>`. */
export const PRODUCER_HEADER = 'Herald-Producer';
/** Stored messages are CloudEvents in structured JSON form. */
export const STORED_CONTENT_TYPE = `${MediaType.Structured}; charset=utf-8`;

export interface IngestOptions {
  cache: ConfigCache;
  js: JetStreamClient;
  validators: SchemaValidators;
  metrics: BrokerMetrics;
  /** False while NATS is disconnected: publishes then fail fast with 503 instead of queueing. */
  isConnected: () => boolean;
  /** How long to wait for a PubAck before answering 503. */
  publishTimeoutMs: number;
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

export class IngestPipeline {
  private readonly rules = new WeakMap<CompiledProducer, ProducerRules>();

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
    const et = this.findEventType(producer, event);
    this.checkPermission(producer, et, event);
    return et;
  }

  /** The registered EventType of the event in the producer's namespace; 422 when there is none. */
  findEventType(producer: CompiledProducer, event: CloudEvent): CompiledEventType {
    const type = event.attributes.type as string;
    const et = this.options.cache.findEventTypeByCeType(producer.namespace, type);
    if (et === undefined) {
      throw new ProblemError(
        ProblemKind.UnknownEventType,
        `No event type "${type}" is registered in namespace "${producer.namespace}".`,
        { extensions: { eventType: type, namespace: producer.namespace } },
      );
    }
    return et;
  }

  /** 403 unless the producer may publish this type from this source. */
  checkPermission(producer: CompiledProducer, et: CompiledEventType, event: CloudEvent): void {
    const rules = this.rulesOf(producer);
    if (!rules.eventTypes.has(et.name)) {
      throw new ProblemError(
        ProblemKind.ForbiddenType,
        `Producer "${rules.id}" may not publish events of type "${et.type}".`,
        { extensions: { eventType: et.type } },
      );
    }
    const source = event.attributes.source as string;
    if (!isSourceAllowed(rules, source)) {
      throw new ProblemError(
        ProblemKind.ForbiddenSource,
        `Producer "${rules.id}" may not publish events with source "${source}".`,
        { extensions: { source, allowedSources: producer.sources } },
      );
    }
  }

  /** authorize + validate; the EventType found (if any) is reported to `found` for metrics. */
  private check(
    producer: CompiledProducer,
    event: CloudEvent,
    found: { et?: CompiledEventType },
  ): CompiledEventType {
    const et = this.findEventType(producer, event);
    found.et = et;
    this.checkPermission(producer, et, event);
    this.validate(et, event);
    return et;
  }

  /** Checks `data` against the type's schema; 422 listing every violation. */
  validate(et: CompiledEventType, event: CloudEvent): void {
    if (et.schema === undefined) return;
    const data = event.data;
    let value: unknown;
    if (data === undefined) value = undefined;
    else if (data.kind === 'json') value = data.value;
    else {
      throw new ProblemError(
        ProblemKind.SchemaValidationFailed,
        `Events of type "${et.type}" carry JSON data checked against a schema; this event's data is not JSON.`,
        { extensions: { errors: [{ instancePath: '', message: 'must be JSON' }] } },
      );
    }
    let result;
    try {
      result = this.options.validators.check(et, value);
    } catch (err) {
      throw new ProblemError(
        ProblemKind.InternalError,
        `The schema of "${et.type}" cannot be used.`,
        {
          reason: err instanceof Error ? err.message : String(err),
          cause: err,
        },
      );
    }
    if (result.ok) return;
    const more = result.violations.length - 1;
    throw new ProblemError(
      ProblemKind.SchemaValidationFailed,
      `data does not match the schema of "${et.type}": ${result.firstPath} ${result.firstMessage}` +
        (more > 0 ? ` (and ${more} more error${more > 1 ? 's' : ''})` : ''),
      { extensions: { errors: result.violations } },
    );
  }

  /** Stores one event; resolves with its receipt, rejects with a 503 (or 413) ProblemError. */
  publish(producer: CompiledProducer, et: CompiledEventType, event: CloudEvent): Promise<Receipt> {
    const { js, isConnected, publishTimeoutMs } = this.options;
    const id = event.attributes.id as string;
    const source = event.attributes.source as string;
    if (!isConnected()) {
      return Promise.reject(buildUnavailableProblem('NATS is not connected'));
    }
    const h = createHeaders();
    h.set(PRODUCER_HEADER, this.rulesOf(producer).id);
    h.set('Content-Type', STORED_CONTENT_TYPE);
    let body: string;
    try {
      body = encodeStructured(event);
    } catch (err) {
      return Promise.reject(wrapAsProblemError(err));
    }
    const msgID = messageIdFor(producer.namespace, source, id);
    return new Promise<PubAck>((resolve, reject) => {
      this.publishQueue.push(() => {
        const sentAt = performance.now();
        js.publish(et.subject, body, { msgID, headers: h, timeout: publishTimeoutMs }).then(
          (ack) => {
            this.options.metrics.observePublish((performance.now() - sentAt) / 1000);
            resolve(ack);
          },
          reject,
        );
      });
      if (this.publishQueue.length === 1) setImmediate(this.flushPublishQueue);
    }).then(
      (ack) => ({ id, source, type: et.type, sequence: ack.seq, duplicate: ack.duplicate }),
      (err: unknown) => {
        throw mapPublishError(err);
      },
    );
  }

  /**
   * Publishes queued since the last turn of the event loop go out together: nats.js writes
   * to its socket once per microtask checkpoint, so requests that arrived in one I/O phase
   * share one write instead of one syscall each.
   */
  private readonly publishQueue: (() => void)[] = [];
  private readonly flushPublishQueue = (): void => {
    const queue = this.publishQueue.splice(0);
    for (const send of queue) send();
  };

  /**
   * The whole pipeline after authentication for one event; records its outcome in metrics.
   * Rejects with a ProblemError.
   */
  ingestOne(producer: CompiledProducer, event: CloudEvent): Promise<Receipt> {
    const wait = this.options.rateLimiter?.take(producer, 1) ?? 0;
    if (wait !== 0) return Promise.reject(this.refuseOverLimit(producer, [event], wait));
    const found: { et?: CompiledEventType } = {};
    let accepted: CompiledEventType;
    try {
      accepted = this.check(producer, event, found);
    } catch (err) {
      this.recordFailure(producer, found.et, err);
      return Promise.reject(err);
    }
    return this.publish(producer, accepted, event).then(
      (receipt) => {
        this.recordReceipt(producer, accepted, receipt);
        return receipt;
      },
      (err: unknown) => {
        this.recordFailure(producer, accepted, err);
        throw err;
      },
    );
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
    const settled = await Promise.allSettled(
      accepted.map((a) => this.publish(producer, a.eventType, a.event)),
    );
    const receipts: Receipt[] = [];
    const stored: (Receipt & { index: number })[] = [];
    const failed: number[] = [];
    let firstError: ProblemError | undefined;
    settled.forEach((s, index) => {
      const et = (accepted[index] as AcceptedEvent).eventType;
      if (s.status === 'fulfilled') {
        receipts.push(s.value);
        stored.push({ index, ...s.value });
        this.recordReceipt(producer, et, s.value);
      } else {
        this.recordFailure(producer, et, s.reason);
        failed.push(index);
        firstError ??= wrapAsProblemError(s.reason);
      }
    });
    if (firstError !== undefined) {
      throw new ProblemError(
        firstError.kind,
        `${stored.length} of ${events.length} events were stored; ${firstError.problem.detail}`,
        {
          extensions: { stored, failed },
          headers: firstError.headers,
          reason: firstError.reason,
          cause: firstError,
        },
      );
    }
    return receipts;
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

  private rulesOf(producer: CompiledProducer): ProducerRules {
    let rules = this.rules.get(producer);
    if (rules === undefined) {
      rules = buildProducerRules(producer);
      this.rules.set(producer, rules);
    }
    return rules;
  }

  private recordReceipt(producer: CompiledProducer, et: CompiledEventType, r: Receipt): void {
    this.recordOutcome(producer, et, r.duplicate ? EventOutcome.Duplicate : EventOutcome.Accepted);
  }

  private recordFailure(
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

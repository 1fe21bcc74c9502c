/**
 * One pull-consumer loop per (Subscription, EventType consumer): pull, decode, filter, deliver,
 * then ack / nak(delay) / dead-letter. Up to `concurrency` deliveries run at once (1 when
 * ordered). Every settlement goes back to JetStream, so nothing here needs to survive a crash.
 *
 * Pipeline per message — later issues slot in where marked: decode → filter → (ledger check)
 * → deliver → decide → settle → (ledger record, attempts log).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { decodeStructured } from '../core/cloudevents/index.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { CompiledConsumer } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import { messageIdFor } from '../core/topology.js';
import { publishDeadLetter } from './dead-letter.js';
import { webhookIdFor, type SinkClients } from './deliver.js';
import { DeliveryOutcome, SkipReason, type DispatcherMetrics } from './metrics.js';
import type { PreparedSubscription } from './prepare.js';
import {
  AttemptFailure,
  decideNextStep,
  statusClassOf,
  type AttemptResult,
  type NextStep,
} from './retry.js';

export interface ConsumeLoopOptions {
  js: JetStreamClient;
  subscription: PreparedSubscription;
  consumer: CompiledConsumer;
  sinks: SinkClients;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** Jitter source; tests pin it. */
  random?: () => number;
}

export interface ConsumeLoop {
  readonly stream: string;
  readonly durable: string;
  /** Stops pulling; in-flight deliveries finish, buffered ones are nak'd for redelivery. */
  stop(): Promise<void>;
}

/** While the operator has not created the consumer yet: retry, from 250 ms up to 15 s apart. */
const RECONNECT_BACKOFF = { initialMs: 250, maxMs: 15_000 } as const;
/** Tries at publishing one dead letter before giving the event back to JetStream. */
const DEAD_LETTER_TRIES = 3;
/** nak delay when the dead-letter stream is unavailable or something unexpected failed. */
const FALLBACK_NAK_MS = 5_000;

export function startConsumeLoop(options: ConsumeLoopOptions): ConsumeLoop {
  return new ConsumeLoopRunner(options);
}

class ConsumeLoopRunner implements ConsumeLoop {
  readonly stream: string;
  readonly durable: string;
  private readonly o: ConsumeLoopOptions;
  private readonly sub: PreparedSubscription;
  private readonly log: Logger;
  private readonly slots: Slots;
  private readonly inflight = new Set<Promise<void>>();
  private readonly stopSignal = new AbortController();
  private messages: ConsumerMessages | undefined;
  private ackWaitMs: number | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly running: Promise<void>;

  constructor(options: ConsumeLoopOptions) {
    this.o = options;
    this.sub = options.subscription;
    this.stream = options.consumer.stream;
    this.durable = options.consumer.durable;
    this.log = options.logger.child({ stream: this.stream, consumer: this.durable });
    this.slots = new Slots(this.sub.concurrency);
    this.running = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'consume loop failed');
    });
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.stopSignal.abort();
      await this.messages?.close().catch(() => undefined);
      await this.running;
    })();
    return this.stopped;
  }

  private async run(): Promise<void> {
    let backoffMs: number = RECONNECT_BACKOFF.initialMs;
    let failures = 0;
    while (!this.stopping) {
      try {
        const consumer = await this.o.js.consumers.get(this.stream, this.durable);
        const ackWait = (await consumer.info(true)).config.ack_wait;
        this.ackWaitMs = ackWait ? Math.floor(ackWait / 1e6) : undefined;
        if (failures > 0) this.log.info('consumer available; consuming');
        failures = 0;
        backoffMs = RECONNECT_BACKOFF.initialMs;
        await this.consumeFrom(consumer);
      } catch (err) {
        if (this.stopping) break;
        failures++;
        const missing =
          err instanceof JetStreamApiError &&
          (err.code === JetStreamApiCodes.ConsumerNotFound ||
            err.code === JetStreamApiCodes.StreamNotFound);
        // The operator may simply not be done yet: say so once, then quietly keep trying.
        this.log[failures === 1 || failures % 20 === 0 ? 'warn' : 'debug'](
          { err: missing ? undefined : err, failures, retryInMs: backoffMs },
          missing ? 'consumer or stream not found yet; retrying' : 'consuming failed; retrying',
        );
        await sleep(backoffMs, undefined, { signal: this.stopSignal.signal }).catch(() => {});
        backoffMs = Math.min(backoffMs * 2, RECONNECT_BACKOFF.maxMs);
      }
    }
    await Promise.allSettled([...this.inflight]);
  }

  private async consumeFrom(consumer: Consumer): Promise<void> {
    const messages = await consumer.consume({ max_messages: this.sub.concurrency });
    this.messages = messages;
    if (this.stopping) {
      await messages.close();
      return;
    }
    void this.watchStatus(messages);
    for await (const msg of messages) {
      if (this.stopping && this.releaseOnStop(msg)) continue;
      await this.slots.acquire();
      if (this.stopping && this.releaseOnStop(msg)) {
        this.slots.release();
        continue;
      }
      const task = this.handleMessage(msg).finally(() => {
        this.slots.release();
        this.inflight.delete(task);
      });
      this.inflight.add(task);
    }
    if (!this.stopping) throw new Error('the consumer’s message iterator ended');
  }

  /**
   * A message pulled but not started when stopping goes back at once (nak) — unless this is
   * its last allowed delivery: JetStream would not redeliver it, so it is processed instead.
   */
  private releaseOnStop(msg: JsMsg): boolean {
    if (msg.info.deliveryCount >= this.sub.retry.maxAttempts) return false;
    msg.nak();
    return true;
  }

  private async watchStatus(messages: ConsumerMessages): Promise<void> {
    for await (const s of messages.status()) {
      if (s.type === 'consumer_deleted') {
        this.log.warn({ description: s.description }, 'consumer deleted; waiting for it to return');
      } else if (s.type === 'consumer_not_found' && s.count === 1) {
        this.log.warn('consumer not found; waiting for it to return');
      } else if (s.type === 'stream_not_found' && !s.consumerCreateFails) {
        this.log.warn('stream not found; waiting for it to return');
      }
    }
  }

  private async handleMessage(msg: JsMsg): Promise<void> {
    try {
      await this.processMessage(msg);
    } catch (err) {
      this.log.error({ err, seq: msg.seq }, 'unexpected error handling a message; redelivering');
      msg.nak(FALLBACK_NAK_MS);
    }
  }

  private async processMessage(msg: JsMsg): Promise<void> {
    const { namespace, name } = this.sub;
    let event: CloudEvent;
    try {
      event = decodeStructured(msg.data);
    } catch (err) {
      // Nothing can make these bytes a CloudEvent: retrying would only burn attempts.
      this.log.error(
        { seq: msg.seq, err: err instanceof Error ? err.message : String(err) },
        'stored message is not a CloudEvent; terminating it',
      );
      this.o.metrics.skipped.inc({ namespace, subscription: name, reason: SkipReason.Undecodable });
      msg.term();
      return;
    }
    if (!this.sub.matches(event.attributes)) {
      this.o.metrics.skipped.inc({ namespace, subscription: name, reason: SkipReason.Filtered });
      msg.ack();
      return;
    }
    const messageId =
      msg.headers?.get('Nats-Msg-Id') ||
      messageIdFor(namespace, String(event.attributes.source), String(event.attributes.id));
    const webhookId = webhookIdFor(namespace, name, messageId);
    const attempt = msg.info.deliveryCount;

    const stopKeepAlive = this.keepAlive(msg);
    try {
      const result = await this.attemptDelivery(event, webhookId);
      const step = decideNextStep(result, attempt, this.sub.retry, {
        ...(this.o.random ? { random: this.o.random } : {}),
      });
      await this.settle(msg, event, messageId, attempt, result, step);
    } finally {
      stopKeepAlive();
    }
  }

  private async attemptDelivery(event: CloudEvent, webhookId: string): Promise<AttemptResult> {
    const { target } = this.sub;
    let result: AttemptResult;
    const started = performance.now();
    try {
      const request = target.buildRequest(event, webhookId, Math.floor(Date.now() / 1000));
      result = await this.o.sinks.send(request, target.timeoutMs);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      result = { kind: 'failure', failure: AttemptFailure.Internal, message };
    }
    this.o.metrics.deliveryDuration.observe(
      {
        namespace: this.sub.namespace,
        subscription: this.sub.name,
        status_class: statusClassOf(result),
      },
      (performance.now() - started) / 1000,
    );
    return result;
  }

  private async settle(
    msg: JsMsg,
    event: CloudEvent,
    messageId: string,
    attempt: number,
    result: AttemptResult,
    step: NextStep,
  ): Promise<void> {
    const status = result.kind === 'response' ? result.status : undefined;
    const context = {
      eventId: event.attributes.id,
      seq: msg.seq,
      attempt,
      maxAttempts: this.sub.retry.maxAttempts,
      status,
    };
    const count = (outcome: DeliveryOutcome): void =>
      this.o.metrics.deliveries.inc({
        namespace: this.sub.namespace,
        subscription: this.sub.name,
        outcome,
        status_class: statusClassOf(result),
      });
    switch (step.action) {
      case 'ack':
        msg.ack();
        count(DeliveryOutcome.Delivered);
        this.log.debug(context, 'delivered');
        return;
      case 'nak':
        msg.nak(step.delayMs);
        count(DeliveryOutcome.Retried);
        this.log.warn(
          { ...context, delayMs: step.delayMs, reason: step.reason },
          'delivery attempt failed; retrying',
        );
        return;
      case 'dead_letter': {
        const details = {
          code: step.code,
          reason: step.reason,
          attempts: attempt,
          ...(status !== undefined ? { status } : {}),
          ...(result.kind === 'response' && result.bodyExcerpt
            ? { bodyExcerpt: result.bodyExcerpt }
            : {}),
        };
        const producer = msg.headers?.get('Herald-Producer');
        const source = {
          namespace: this.sub.namespace,
          subscription: this.sub.name,
          stream: msg.info.stream,
          streamSequence: msg.seq,
          messageId,
          ...(producer ? { producer } : {}),
        };
        for (let tryNo = 1; ; tryNo++) {
          try {
            await publishDeadLetter(this.o.js, source, event, details);
            break;
          } catch (err) {
            if (tryNo >= DEAD_LETTER_TRIES) {
              // Last delivery: JetStream will not redeliver, but the event stays in its stream.
              this.log.error(
                { ...context, err, stream: msg.info.stream, code: step.code },
                'cannot publish the dead letter; giving the event back to JetStream',
              );
              msg.nak(FALLBACK_NAK_MS);
              return;
            }
            await sleep(500 * tryNo);
          }
        }
        msg.term();
        count(DeliveryOutcome.DeadLettered);
        this.log.warn({ ...context, code: step.code, reason: step.reason }, 'event dead-lettered');
        return;
      }
    }
  }

  /**
   * Sends in-progress acks while a request (and its settlement) runs, when it could outlive
   * half the consumer's ack_wait; otherwise JetStream would redeliver mid-request.
   */
  private keepAlive(msg: JsMsg): () => void {
    const ackWaitMs = this.ackWaitMs;
    if (!ackWaitMs) return () => {};
    const everyMs = Math.max(500, Math.floor(ackWaitMs / 2));
    if (this.sub.target.timeoutMs < everyMs) return () => {};
    const timer = setInterval(() => msg.working(), everyMs);
    return () => clearInterval(timer);
  }
}

/** A counting semaphore: bounds deliveries in flight without spawning a task per message. */
class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

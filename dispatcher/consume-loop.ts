/**
 * One pull-consumer loop per (Subscription, EventType consumer): pull, decode, filter, deliver,
 * then ack / nak(delay) / dead-letter. Up to `concurrency` deliveries run at once (1 when
 * ordered). Every settlement goes back to JetStream, so nothing here needs to survive a crash.
 *
 * The consumer's max_deliver is retry.maxAttempts + 1: deliveries 1…maxAttempts are attempts
 * (a POST each); the one spare delivery after them never POSTs, it only dead-letters. It is
 * what a message gets back when the last attempt could not be settled — the dispatcher stopped
 * or crashed between the last POST and the dead letter, or HERALD_DLQ refused it — so such an
 * event still reaches the dead-letter stream instead of being stranded in its consumer.
 *
 * Pipeline per message: decode → filter → ledger check (a hit is acked without a POST) →
 * hooks.beforeAttempt (rate limit, sink verification) → deliver → decide → hooks.afterAttempt
 * (health, attempts log) → settle (a 2xx is recorded in the ledger, then acked: ledger.ts; a
 * 410 pauses the subscription: the loop stops and gives its messages back).
 */
import {
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { decodeStructured } from '../core/cloudevents/index.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import { sendSoon } from '../core/nats-write-batch.js';
import type { CompiledConsumer } from '../core/config/model.js';
import { ErrorCode, HeraldError } from '../core/errors.js';
import type { Logger } from '../core/logging.js';
import { messageIdFor } from '../core/topology.js';
import { consumeWithReconnect } from './consumer-attach.js';
import { attemptDelivery, keepMessageWhileRunning } from './attempt.js';
import type { DeadLetterDetails } from './dead-letter.js';
import { FALLBACK_NAK_MS } from './dead-letter-settle.js';
import {
  isGiveBack,
  notifyHooks,
  waitBeforeAttempt,
  type DeliveryHooks,
} from './delivery-hooks.js';
import { webhookIdFor, type SinkClients } from './deliver.js';
import type { DeliveryLedger } from './ledger.js';
import { SkipReason, type DispatcherMetrics } from './metrics.js';
import type { PreparedSubscription } from './prepare.js';
import { DeadLetterCode, decideNextStep } from './retry.js';
import { PAUSE_NAK_DELAY_MS, Settler } from './settle.js';
import { Slots } from './slots.js';

export interface ConsumeLoopOptions {
  js: JetStreamClient;
  subscription: PreparedSubscription;
  consumer: CompiledConsumer;
  sinks: SinkClients;
  metrics: DispatcherMetrics;
  /** Checked before each POST, written after each 2xx (ledger.ts); absent, at-least-once. */
  ledger?: DeliveryLedger;
  /** Around each attempt: rate limits, sink verification, health, attempts log. */
  hooks?: readonly DeliveryHooks[];
  logger: Logger;
  /** Jitter source; tests pin it. */
  random?: () => number;
}

export interface ConsumeLoop {
  readonly stream: string;
  readonly durable: string;
  /**
   * Swaps in a changed subscription (sink, credentials, signing secrets, filters, retry policy,
   * timeout, mode) without touching the consumer, so nothing is nak'd and no delivery count
   * moves. Messages started from now on use it; those in flight finish with the one they
   * started with. The consumers and the concurrency must be unchanged: restart for those.
   */
  update(subscription: PreparedSubscription): void;
  /** Stops pulling; in-flight deliveries finish, buffered ones are nak'd for redelivery. */
  stop(): Promise<void>;
  /** Set once the sink asked to stop (410): the loop stopped itself; why. */
  readonly pausedReason: string | undefined;
}

/*
 * Every nak given while this loop stops (a 410 pause, a restart, shutdown) is delayed by
 * PAUSE_NAK_DELAY_MS: nats-server 2.9 hands an immediately nak'd message straight back to the
 * pull being closed, where it is lost until ack_wait runs out; a second's delay lets it go to
 * the next puller instead.
 */
/** `status_class` of a dead letter that made no attempt (the spare delivery). */
const NO_ATTEMPT_STATUS_CLASS = 'none';

export function startConsumeLoop(options: ConsumeLoopOptions): ConsumeLoop {
  return new ConsumeLoopRunner(options);
}

class ConsumeLoopRunner implements ConsumeLoop {
  readonly stream: string;
  readonly durable: string;
  private readonly o: ConsumeLoopOptions;
  /** Replaced by update(); each message reads it once, when it starts. */
  private sub: PreparedSubscription;
  private readonly log: Logger;
  private readonly slots: Slots;
  private readonly inflight = new Set<Promise<void>>();
  /**
   * Stream sequences being handled here. JetStream redelivers a message whose ack_wait ran out
   * while it waited for a slot or ran; that copy is left to the one already running, which
   * settles it (an ack or nak of an earlier copy counts), so one process never POSTs it twice.
   */
  private readonly handling = new Set<number>();
  private readonly stopSignal = new AbortController();
  private messages: ConsumerMessages | undefined;
  private ackWaitMs: number | undefined;
  private stopping = false;
  private paused: string | undefined;
  private stopped: Promise<void> | undefined;
  private readonly running: Promise<void>;
  private readonly settler: Settler;

  constructor(options: ConsumeLoopOptions) {
    this.o = options;
    this.sub = options.subscription;
    this.stream = options.consumer.stream;
    this.durable = options.consumer.durable;
    this.log = options.logger.child({ stream: this.stream, consumer: this.durable });
    this.slots = new Slots(this.sub.concurrency);
    this.settler = new Settler({
      js: options.js,
      ...(options.ledger ? { ledger: options.ledger } : {}),
      metrics: options.metrics,
      log: this.log,
      signal: this.stopSignal.signal,
      isStopping: () => this.stopping,
      ackWaitMs: () => this.ackWaitMs,
      pause: (sub, reason) => this.pause(sub, reason),
    });
    this.running = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'consume loop failed');
    });
  }

  update(subscription: PreparedSubscription): void {
    this.sub = subscription;
  }

  get pausedReason(): string | undefined {
    return this.paused;
  }

  private get hooks(): readonly DeliveryHooks[] {
    return this.o.hooks ?? [];
  }

  /**
   * Stops pulling after a 410, from inside a delivery (so without awaiting the run); messages
   * pulled but not started go back as on stop(). Only the first pause is reported.
   */
  private pause(sub: PreparedSubscription, reason: string): void {
    if (this.paused !== undefined || this.stopping) return;
    this.paused = reason;
    this.stopping = true;
    this.stopSignal.abort();
    void this.messages?.close().catch(() => undefined);
    this.log.warn({ reason }, 'the sink asked to stop; subscription paused');
    notifyHooks(
      this.hooks,
      (h) => h.pauseRequested?.(sub, reason),
      (err) => this.log.error({ err }, 'pause hook failed'),
    );
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
    await consumeWithReconnect({
      js: this.o.js,
      stream: this.stream,
      durable: this.durable,
      log: this.log,
      signal: this.stopSignal.signal,
      isStopping: () => this.stopping,
      consume: (consumer, ackWaitMs) => {
        this.ackWaitMs = ackWaitMs;
        return this.consumeFrom(consumer);
      },
    });
    await Promise.allSettled([...this.inflight]);
  }

  private async consumeFrom(consumer: Consumer): Promise<void> {
    const messages = await consumer.consume({ max_messages: this.sub.concurrency });
    this.messages = messages;
    if (this.stopping) {
      // Not awaited: close() resolves when the iterator is drained, and nothing iterates it.
      void messages.close().catch(() => undefined);
      return;
    }
    void this.watchStatus(messages);
    for await (const msg of messages) {
      if (this.stopping && this.releaseOnStop(msg)) continue;
      if (this.handling.has(msg.seq)) {
        this.log.warn(
          { seq: msg.seq, attempt: msg.info.deliveryCount },
          'redelivered while still being handled here (ack_wait ran out); left to the running copy',
        );
        continue;
      }
      await this.slots.acquire();
      if (this.stopping && this.releaseOnStop(msg)) {
        this.slots.release();
        continue;
      }
      this.handling.add(msg.seq);
      const task = this.handleMessage(msg).finally(() => {
        this.handling.delete(msg.seq);
        this.slots.release();
        this.inflight.delete(task);
      });
      this.inflight.add(task);
    }
    if (!this.stopping) {
      throw new HeraldError(ErrorCode.ConsumeInterrupted, 'the consumer’s message iterator ended');
    }
  }

  /**
   * A message pulled but not started when stopping goes back at once (nak): its delivery count
   * already moved, but it comes back at once to whichever dispatcher runs next. Not on its last
   * attempt or on the spare delivery: a nak would cost the last POST (or, on the spare, the
   * event would not come back at all), so it is processed instead.
   */
  private releaseOnStop(msg: JsMsg): boolean {
    if (msg.info.deliveryCount >= this.sub.retry.maxAttempts) return false;
    msg.nak(PAUSE_NAK_DELAY_MS);
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
    const labels = { namespace: this.sub.namespace, subscription: this.sub.name };
    this.o.metrics.inFlight.inc(labels);
    try {
      await this.processMessage(msg);
    } catch (err) {
      this.log.error({ err, seq: msg.seq }, 'unexpected error handling a message; redelivering');
      msg.nak(FALLBACK_NAK_MS);
    } finally {
      this.o.metrics.inFlight.dec(labels);
    }
  }

  private async processMessage(msg: JsMsg): Promise<void> {
    // One subscription for the whole message, even if update() swaps it meanwhile.
    const sub = this.sub;
    const { namespace, name } = sub;
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
    if (!sub.matches(event.attributes)) {
      this.o.metrics.skipped.inc({ namespace, subscription: name, reason: SkipReason.Filtered });
      sendSoon(() => msg.ack());
      return;
    }
    const messageId =
      msg.headers?.get('Nats-Msg-Id') ||
      messageIdFor(namespace, String(event.attributes.source), String(event.attributes.id));
    const attempt = msg.info.deliveryCount;
    // Before the spare delivery too: a last attempt that was recorded but not acked is done.
    const entry = { namespace, subscription: name, messageId };
    if (await this.o.ledger?.isDelivered(entry, this.settler.ledgerCall(msg, event, attempt))) {
      sendSoon(() => msg.ack());
      return;
    }

    if (attempt > sub.retry.maxAttempts) {
      // The spare delivery: every attempt is used up, but the last one was never settled (the
      // dispatcher stopped or crashed before dead-lettering, or HERALD_DLQ refused the dead
      // letter). No POST: dead-letter it now.
      const details: DeadLetterDetails = {
        code: DeadLetterCode.AttemptsExhausted,
        reason:
          `no attempt left: delivery ${attempt} after retry.maxAttempts ${sub.retry.maxAttempts}; ` +
          'the last attempt was not settled (dispatcher stopped, or dead-letter stream unavailable)',
        attempts: attempt - 1,
      };
      const context = {
        eventId: event.attributes.id,
        seq: msg.seq,
        attempt,
        maxAttempts: sub.retry.maxAttempts,
      };
      await this.settler.deadLetter(
        msg,
        sub,
        event,
        messageId,
        details,
        context,
        NO_ATTEMPT_STATUS_CLASS,
      );
      return;
    }

    if (this.hooks.length > 0 && !(await this.waitForTurn(msg, sub))) return;

    const webhookId = webhookIdFor(namespace, name, messageId);
    const stopKeepAlive = keepMessageWhileRunning(msg, this.ackWaitMs, sub.target.timeoutMs);
    try {
      const { result, startedAt, latencyMs } = await attemptDelivery(
        this.o.sinks,
        this.o.metrics,
        sub,
        event,
        webhookId,
      );
      const step = decideNextStep(result, attempt, sub.retry, {
        ...(this.o.random ? { random: this.o.random } : {}),
      });
      if (this.hooks.length > 0) {
        const record = {
          subscription: sub,
          event,
          messageId,
          webhookId,
          stream: this.stream,
          streamSequence: msg.seq,
          attempt,
          startedAt,
          latencyMs,
          result,
          step,
        };
        notifyHooks(
          this.hooks,
          (h) => h.afterAttempt?.(record),
          (err) => this.log.error({ err }, 'attempt hook failed'),
        );
      }
      await this.settler.settle(msg, sub, event, messageId, attempt, result, step);
    } finally {
      stopKeepAlive();
    }
  }

  /**
   * Waits for the hooks to let this attempt go, holding the message with in-progress acks
   * (a rate-limited wait can outlast ack_wait). False when the loop stopped meanwhile: the
   * message was given back.
   */
  private async waitForTurn(msg: JsMsg, sub: PreparedSubscription): Promise<boolean> {
    const everyMs = Math.max(500, Math.floor((this.ackWaitMs ?? 30_000) / 2));
    const timer = setInterval(() => msg.working(), everyMs);
    try {
      await waitBeforeAttempt(this.hooks, sub, this.stopSignal.signal);
    } catch (err) {
      if (isGiveBack(err)) {
        this.log.info({ seq: msg.seq, reason: String(err) }, 'event given back for redelivery');
        msg.nak();
        return false;
      }
      if (!this.stopSignal.signal.aborted) throw err;
    } finally {
      clearInterval(timer);
    }
    if (!this.stopSignal.signal.aborted) return true;
    msg.nak(PAUSE_NAK_DELAY_MS);
    return false;
  }
}

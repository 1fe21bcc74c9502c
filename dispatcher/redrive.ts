/**
 * Redrive: dead letters that `herald dlq redrive` queued on HERALD_REDRIVE
 * (`herald.redrive.<ns>.<subscription>`) are delivered again, one loop per dispatcher on the
 * shared durable `herald-redrive`. Each goes to its subscription's *current* sink exactly like a
 * normal delivery — the same PreparedSubscription (signing, sink auth, timeout, mode), the
 * delivery hooks, the ledger under the original event's key (a redriven event already
 * delivered is not sent again), the same webhook-id — except that filters do not apply again.
 * Retries are nak(delay)s counted against the subscription's retry.maxAttempts; an event that
 * fails again goes back to HERALD_DLQ with fresh heralderror* attributes. A redrive for a
 * subscription that is gone, paused or not deliverable is acked and logged: its dead letter is
 * still in HERALD_DLQ, to be redriven once the subscription runs.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { decodeStructured } from '../core/cloudevents/index.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { Logger } from '../core/logging.js';
import { messageIdFor, REDRIVE_CONSUMER, REDRIVE_STREAM } from '../core/topology.js';
import { attemptDelivery, keepMessageWhileRunning } from './attempt.js';
import { RedriveOutcome, type DeadLetterMetrics } from './dead-letter-metrics.js';
import { DeadLetterHeader, type DeadLetterDetails } from './dead-letter.js';
import { settleWithDeadLetter } from './dead-letter-settle.js';
import { notifyHooks, waitBeforeAttempt, type DeliveryHooks } from './delivery-hooks.js';
import { webhookIdFor, type SinkClients } from './deliver.js';
import type { DeliveryLedger, LedgerCall } from './ledger.js';
import { DeliveryOutcome, type DispatcherMetrics } from './metrics.js';
import type { PreparedSubscription } from './prepare.js';
import type { PreparedSubscriptions } from './prepared-subscriptions.js';
import { DeadLetterCode, decideNextStep, statusClassOf } from './retry.js';
import {
  startSharedConsumerLoop,
  subscriptionOfSubject,
  type SharedConsumerLoop,
  type SharedMessageContext,
} from './shared-consumer-loop.js';
import { Slots } from './slots.js';

/** NATS headers on a redrive message (cli/dlq-command.ts writes them). */
export const RedriveHeader = {
  /** HERALD_DLQ sequence of the dead letter this redrives. */
  DeadLetterSequence: 'Herald-Dead-Letter-Sequence',
} as const;

export interface RedriveLoopOptions {
  js: JetStreamClient;
  subscriptions: PreparedSubscriptions;
  sinks: SinkClients;
  metrics: DispatcherMetrics;
  deadLetterMetrics: DeadLetterMetrics;
  /** The delivery ledger; absent, redrives are at-least-once. */
  ledger?: DeliveryLedger;
  /** The supervisor's hooks (rate limits, verification, health, attempts log). */
  hooks?: readonly DeliveryHooks[];
  logger: Logger;
  /** Redrives in flight at once on this dispatcher (default 16), each subscription within its maxInFlight. */
  concurrency?: number;
  random?: () => number;
}

const DEFAULT_CONCURRENCY = 16;

export function startRedriveLoop(options: RedriveLoopOptions): SharedConsumerLoop {
  const log = options.logger.child({ loop: 'redrive' });
  const perSubscription = new KeyedSlots();
  return startSharedConsumerLoop({
    js: options.js,
    stream: REDRIVE_STREAM,
    durable: REDRIVE_CONSUMER,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    logger: log,
    handle: (msg, ctx) => new Redrive(options, log, perSubscription, msg, ctx).run(),
  });
}

/** One redrive message, from lookup to settlement. */
class Redrive {
  private log: Logger;

  constructor(
    private readonly o: RedriveLoopOptions,
    baseLog: Logger,
    private readonly perSubscription: KeyedSlots,
    private readonly msg: JsMsg,
    private readonly ctx: SharedMessageContext,
  ) {
    this.log = baseLog;
  }

  async run(): Promise<void> {
    const { msg } = this;
    const owner = subscriptionOfSubject(msg.subject, 'redrive');
    if (!owner) {
      this.log.warn({ seq: msg.seq }, 'redrive on an unexpected subject; dropped');
      msg.term();
      return;
    }
    const { namespace, name } = owner;
    this.log = this.log.child({ namespace, subscription: name });
    const found = this.o.subscriptions.lookup(namespace, name);
    if (found.state !== 'ready') {
      const detail = found.state === 'not_deliverable' ? { code: found.error.code } : {};
      this.drop(namespace, name, { state: found.state, ...detail }, 'subscription cannot take it');
      return;
    }
    const sub = found.prepared;
    let event: CloudEvent;
    try {
      event = decodeStructured(msg.data);
    } catch (err) {
      const fields = { err: err instanceof Error ? err.message : String(err) };
      this.drop(namespace, name, fields, 'not a CloudEvent');
      return;
    }
    const messageId =
      msg.headers?.get(DeadLetterHeader.OriginalMsgId) ||
      messageIdFor(namespace, String(event.attributes.source), String(event.attributes.id));
    const attempt = msg.info.deliveryCount;
    const fields = {
      seq: msg.seq,
      deadLetterSeq: msg.headers?.get(RedriveHeader.DeadLetterSequence),
      eventId: event.attributes.id,
      attempt,
      maxAttempts: sub.retry.maxAttempts,
    };
    const call: LedgerCall = {
      log: this.log,
      fields,
      hold: () => msg.working(),
      signal: this.ctx.signal,
    };
    const entry = { namespace, subscription: name, messageId };
    if (await this.o.ledger?.isDelivered(entry, call)) {
      msg.ack();
      this.countRedrive(sub, RedriveOutcome.AlreadyDelivered);
      this.log.info(
        fields,
        'redrive of an event already delivered (ledger hit); acked without a POST',
      );
      return;
    }
    if (attempt > sub.retry.maxAttempts) {
      // The last attempt was never settled (a dispatcher stopped or crashed): no POST.
      const details: DeadLetterDetails = {
        code: DeadLetterCode.AttemptsExhausted,
        reason: `no attempt left: redrive delivery ${attempt} after retry.maxAttempts ${sub.retry.maxAttempts}`,
        attempts: attempt - 1,
      };
      await this.deadLetter(sub, event, messageId, details, fields, 'none');
      return;
    }
    // Waiting for the subscription's maxInFlight can outlast ack_wait: hold the message.
    const everyMs = Math.max(500, Math.floor((this.ctx.ackWaitMs ?? 30_000) / 2));
    const holding = setInterval(() => msg.working(), everyMs);
    try {
      await this.perSubscription.acquire(sub.id, sub.concurrency);
    } finally {
      clearInterval(holding);
    }
    try {
      if (this.ctx.isStopping()) {
        msg.nak(); // no max_deliver on this consumer: it simply comes back
        return;
      }
      await this.attempt(sub, event, messageId, fields, call);
    } finally {
      this.perSubscription.release(sub.id);
    }
  }

  private async attempt(
    sub: PreparedSubscription,
    event: CloudEvent,
    messageId: string,
    fields: Record<string, unknown> & { attempt: number },
    call: LedgerCall,
  ): Promise<void> {
    const { msg } = this;
    const hooks = this.o.hooks ?? [];
    if (hooks.length > 0 && !(await this.waitForTurn(sub, hooks))) return;
    const webhookId = webhookIdFor(sub.namespace, sub.name, messageId);
    const stopKeepAlive = keepMessageWhileRunning(msg, this.ctx.ackWaitMs, sub.target.timeoutMs);
    try {
      const { result, startedAt, latencyMs } = await attemptDelivery(
        this.o.sinks,
        this.o.metrics,
        sub,
        event,
        webhookId,
      );
      const step = decideNextStep(result, fields.attempt, sub.retry, {
        ...(this.o.random ? { random: this.o.random } : {}),
      });
      const record = {
        subscription: sub,
        event,
        messageId,
        webhookId,
        stream: msg.info.stream,
        streamSequence: msg.seq,
        attempt: fields.attempt,
        startedAt,
        latencyMs,
        result,
        step,
      };
      notifyHooks(
        hooks,
        (h) => h.afterAttempt?.(record),
        (err) => this.log.error({ err }, 'attempt hook failed'),
      );
      const status = result.kind === 'response' ? result.status : undefined;
      const statusClass = statusClassOf(result);
      const context = { ...fields, status };
      switch (step.action) {
        case 'ack':
          await this.o.ledger?.recordDelivery(
            { namespace: sub.namespace, subscription: sub.name, messageId },
            call,
            String(status ?? ''),
          );
          msg.ack();
          this.countDelivery(sub, DeliveryOutcome.Delivered, statusClass);
          this.countRedrive(sub, RedriveOutcome.Delivered);
          this.log.info(context, 'redriven event delivered');
          return;
        case 'nak':
          msg.nak(step.delayMs);
          this.countDelivery(sub, DeliveryOutcome.Retried, statusClass);
          this.countRedrive(sub, RedriveOutcome.Retried);
          this.log.warn(
            { ...context, delayMs: step.delayMs, reason: step.reason },
            'redrive attempt failed; retrying',
          );
          return;
        case 'pause': {
          // The sink said Gone: the subscription pauses (the hooks make it stick); this event
          // goes back to HERALD_DLQ rather than waiting in the shared redrive queue.
          notifyHooks(
            hooks,
            (h) => h.pauseRequested?.(sub, step.reason),
            (err) => this.log.error({ err }, 'pause hook failed'),
          );
          const details = deadLetterDetailsOf(
            DeadLetterCode.Gone,
            step.reason,
            fields.attempt,
            result,
          );
          await this.deadLetter(sub, event, messageId, details, context, statusClass);
          return;
        }
        case 'dead_letter': {
          const details = deadLetterDetailsOf(step.code, step.reason, fields.attempt, result);
          await this.deadLetter(sub, event, messageId, details, context, statusClass);
          return;
        }
      }
    } finally {
      stopKeepAlive();
    }
  }

  /** As the consume loop: hold the message while the hooks make it wait; false if stopped. */
  private async waitForTurn(
    sub: PreparedSubscription,
    hooks: readonly DeliveryHooks[],
  ): Promise<boolean> {
    const everyMs = Math.max(500, Math.floor((this.ctx.ackWaitMs ?? 30_000) / 2));
    const timer = setInterval(() => this.msg.working(), everyMs);
    try {
      await waitBeforeAttempt(hooks, sub, this.ctx.signal);
    } catch (err) {
      if (!this.ctx.signal.aborted) throw err;
    } finally {
      clearInterval(timer);
    }
    if (!this.ctx.signal.aborted) return true;
    this.msg.nak();
    return false;
  }

  private async deadLetter(
    sub: PreparedSubscription,
    event: CloudEvent,
    messageId: string,
    details: DeadLetterDetails,
    context: Record<string, unknown>,
    statusClass: string,
  ): Promise<void> {
    const where = { ...context, stream: this.msg.info.stream, code: details.code };
    const settleCtx = {
      js: this.o.js,
      log: this.log,
      signal: this.ctx.signal,
      isStopping: () => this.ctx.isStopping(),
      ackWaitMs: this.ctx.ackWaitMs,
    };
    const outcome = await settleWithDeadLetter(
      settleCtx,
      this.msg,
      sub,
      event,
      messageId,
      details,
      where,
    );
    if (outcome !== 'terminated') return;
    this.countDelivery(sub, DeliveryOutcome.DeadLettered, statusClass);
    this.countRedrive(sub, RedriveOutcome.DeadLettered);
    this.log.warn({ ...where, reason: details.reason }, 'redriven event dead-lettered again');
  }

  private drop(
    namespace: string,
    name: string,
    fields: Record<string, unknown>,
    why: string,
  ): void {
    this.msg.ack();
    this.o.deadLetterMetrics.redrives.inc({
      namespace,
      subscription: name,
      outcome: RedriveOutcome.Dropped,
    });
    this.log.warn(
      {
        ...fields,
        seq: this.msg.seq,
        deadLetterSeq: this.msg.headers?.get(RedriveHeader.DeadLetterSequence),
      },
      `redrive dropped: ${why}; the dead letter stays in HERALD_DLQ`,
    );
  }

  private countDelivery(
    sub: PreparedSubscription,
    outcome: DeliveryOutcome,
    statusClass: string,
  ): void {
    this.o.metrics.deliveries.inc({
      namespace: sub.namespace,
      subscription: sub.name,
      outcome,
      status_class: statusClass,
    });
  }

  private countRedrive(sub: PreparedSubscription, outcome: RedriveOutcome): void {
    this.o.deadLetterMetrics.redrives.inc({
      namespace: sub.namespace,
      subscription: sub.name,
      outcome,
    });
  }
}

function deadLetterDetailsOf(
  code: DeadLetterCode,
  reason: string,
  attempts: number,
  result: Parameters<typeof statusClassOf>[0],
): DeadLetterDetails {
  return {
    code,
    reason,
    attempts,
    ...(result.kind === 'response' ? { status: result.status } : {}),
    ...(result.kind === 'response' && result.bodyExcerpt
      ? { bodyExcerpt: result.bodyExcerpt }
      : {}),
  };
}

/**
 * A subscription's maxInFlight (1 when ordered) across the redrives running here, so a redrive
 * never sends a sink more at once than its subscription allows. Entries go when idle.
 */
class KeyedSlots {
  private readonly slots = new Map<string, { slots: Slots; users: number }>();

  async acquire(key: string, size: number): Promise<void> {
    let entry = this.slots.get(key);
    if (!entry) {
      // Sized when first used; a changed maxInFlight applies once its redrives are idle.
      entry = { slots: new Slots(Math.max(1, size)), users: 0 };
      this.slots.set(key, entry);
    }
    entry.users++;
    await entry.slots.acquire();
  }

  release(key: string): void {
    const entry = this.slots.get(key);
    if (!entry) return;
    entry.slots.release();
    if (--entry.users === 0) this.slots.delete(key);
  }
}

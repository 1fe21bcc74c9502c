/**
 * Settling one message after its attempt, for the consume loop: a 2xx is recorded in the
 * ledger, then acked; a retry is a nak with its delay; a 410 gives the event back and pauses
 * the loop; everything else is dead-lettered (dead-letter-settle.ts), then terminated.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { CloudEvent } from '../core/cloudevents/types.js';
import { sendSoon } from '../core/nats-write-batch.js';
import type { Logger } from '../core/logging.js';
import type { DeadLetterDetails } from './dead-letter.js';
import { settleWithDeadLetter } from './dead-letter-settle.js';
import type { DeliveryLedger, LedgerCall } from './ledger.js';
import { DeliveryOutcome, type DispatcherMetrics } from './metrics.js';
import type { PreparedSubscription } from './prepare.js';
import { statusClassOf, type AttemptResult, type NextStep } from './retry.js';

/** Delay of every nak given while a loop stops or pauses (why: consume-loop.ts). */
export const PAUSE_NAK_DELAY_MS = 1_000;

export interface SettlerDeps {
  js: JetStreamClient;
  ledger?: DeliveryLedger;
  metrics: DispatcherMetrics;
  log: Logger;
  signal: AbortSignal;
  isStopping(): boolean;
  ackWaitMs(): number | undefined;
  /** Stops the loop after a 410 (the event was given back). */
  pause(sub: PreparedSubscription, reason: string): void;
}

export class Settler {
  constructor(private readonly d: SettlerDeps) {}

  async settle(
    msg: JsMsg,
    sub: PreparedSubscription,
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
      maxAttempts: sub.retry.maxAttempts,
      status,
    };
    const statusClass = statusClassOf(result);
    switch (step.action) {
      case 'ack':
        // Recorded first: a crash between the two leaves a redelivery the ledger absorbs.
        await this.d.ledger?.recordDelivery(
          { namespace: sub.namespace, subscription: sub.name, messageId },
          this.ledgerCall(msg, event, attempt),
          String(status ?? ''),
        );
        sendSoon(() => msg.ack());
        this.count(sub, DeliveryOutcome.Delivered, statusClass);
        this.d.log.debug(context, 'delivered');
        return;
      case 'nak':
        msg.nak(step.delayMs);
        this.count(sub, DeliveryOutcome.Retried, statusClass);
        this.d.log.warn(
          { ...context, delayMs: step.delayMs, reason: step.reason },
          'delivery attempt failed; retrying',
        );
        return;
      case 'pause':
        // The event is kept: it comes back when the subscription resumes. Not an immediate
        // nak: nats-server 2.9.10 hands it straight back to this loop's pull, which is
        // closing, and that copy then sits unacked until ack_wait (docs/delivery.md).
        msg.nak(PAUSE_NAK_DELAY_MS);
        this.count(sub, DeliveryOutcome.Paused, statusClass);
        this.d.pause(sub, step.reason);
        return;
      case 'dead_letter': {
        const details: DeadLetterDetails = {
          code: step.code,
          reason: step.reason,
          attempts: attempt,
          ...(status !== undefined ? { status } : {}),
          ...(result.kind === 'response' && result.bodyExcerpt
            ? { bodyExcerpt: result.bodyExcerpt }
            : {}),
        };
        await this.deadLetter(msg, sub, event, messageId, details, context, statusClass);
        return;
      }
    }
  }

  ledgerCall(msg: JsMsg, event: CloudEvent, attempt: number): LedgerCall {
    return {
      log: this.d.log,
      fields: { eventId: event.attributes.id, seq: msg.seq, attempt },
      hold: () => msg.working(),
      signal: this.d.signal,
    };
  }

  count(sub: PreparedSubscription, outcome: DeliveryOutcome, statusClass: string): void {
    this.d.metrics.deliveries.inc({
      namespace: sub.namespace,
      subscription: sub.name,
      outcome,
      status_class: statusClass,
    });
  }

  /** Dead-letters the message (dead-letter-settle.ts) and counts it once it is stored. */
  async deadLetter(
    msg: JsMsg,
    sub: PreparedSubscription,
    event: CloudEvent,
    messageId: string,
    details: DeadLetterDetails,
    context: Record<string, unknown>,
    statusClass: string,
  ): Promise<void> {
    const where = { ...context, stream: msg.info.stream, code: details.code };
    const ctx = {
      js: this.d.js,
      log: this.d.log,
      signal: this.d.signal,
      isStopping: () => this.d.isStopping(),
      ackWaitMs: this.d.ackWaitMs(),
    };
    const outcome = await settleWithDeadLetter(ctx, msg, sub, event, messageId, details, where);
    if (outcome !== 'terminated') return;
    this.count(sub, DeliveryOutcome.DeadLettered, statusClass);
    this.d.log.warn({ ...where, reason: details.reason }, 'event dead-lettered');
  }
}

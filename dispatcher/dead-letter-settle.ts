/**
 * Settles a message by dead-lettering it: publish to HERALD_DLQ, then terminate. What happens
 * when HERALD_DLQ refuses depends on whether JetStream will redeliver the message: on a
 * delivery that is not the last, a few quick tries and then nak (a redelivery past
 * maxAttempts only dead-letters); on the spare delivery nothing would come back after a nak,
 * so it keeps trying — with in-progress acks holding the message — until the publish succeeds
 * or the loop stops.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { Logger } from '../core/logging.js';
import { publishDeadLetter, type DeadLetterDetails } from './dead-letter.js';
import type { PreparedSubscription } from './prepare.js';

/** Quick tries on a delivery that is not the last, before giving the event back (nak). */
const DEAD_LETTER_TRIES = 3;
/** On the spare delivery: from 500 ms doubling up to 15 s apart (and ≤ half of ack_wait). */
const LAST_DELIVERY_BACKOFF = { initialMs: 500, maxMs: 15_000 } as const;
/** nak delay when the dead-letter stream is unavailable. */
export const FALLBACK_NAK_MS = 5_000;

export interface DeadLetterSettleContext {
  js: JetStreamClient;
  log: Logger;
  signal: AbortSignal;
  isStopping(): boolean;
  /** The consumer's ack_wait, when known. */
  ackWaitMs: number | undefined;
}

/** `terminated`: stored in HERALD_DLQ; `returned`: nak'd; `left`: stopping, still unacked. */
export type DeadLetterSettlement = 'terminated' | 'returned' | 'left';

export async function settleWithDeadLetter(
  ctx: DeadLetterSettleContext,
  msg: JsMsg,
  sub: PreparedSubscription,
  event: CloudEvent,
  messageId: string,
  details: DeadLetterDetails,
  where: Record<string, unknown>,
): Promise<DeadLetterSettlement> {
  const lastDelivery = msg.info.deliveryCount > sub.retry.maxAttempts;
  const producer = msg.headers?.get('Herald-Producer');
  const source = {
    namespace: sub.namespace,
    subscription: sub.name,
    stream: msg.info.stream,
    streamSequence: msg.seq,
    messageId,
    ...(producer ? { producer } : {}),
  };
  let waitMs: number = LAST_DELIVERY_BACKOFF.initialMs;
  for (let tryNo = 1; ; tryNo++) {
    try {
      await publishDeadLetter(ctx.js, source, event, details);
      break;
    } catch (err) {
      if (!lastDelivery) {
        if (tryNo >= DEAD_LETTER_TRIES) {
          ctx.log.error(
            { ...where, err },
            'cannot publish the dead letter; giving the event back to JetStream',
          );
          msg.nak(FALLBACK_NAK_MS);
          return 'returned';
        }
        await sleep(500 * tryNo, undefined, { signal: ctx.signal }).catch(() => {});
        continue;
      }
      if (ctx.isStopping()) {
        // Nothing redelivers it now: it stays in its stream at this sequence, unacknowledged.
        ctx.log.error(
          { ...where, err, tries: tryNo },
          'stopping while the dead letter cannot be published on the last delivery; the event stays in its stream',
        );
        return 'left';
      }
      if (tryNo === 1 || tryNo % 10 === 0) {
        ctx.log.error(
          { ...where, err, tries: tryNo, retryInMs: waitMs },
          'cannot publish the dead letter on the last delivery; retrying until it succeeds',
        );
      }
      msg.working();
      await sleep(waitMs, undefined, { signal: ctx.signal }).catch(() => {});
      msg.working();
      const halfAckWaitMs = ctx.ackWaitMs ? Math.floor(ctx.ackWaitMs / 2) : Infinity;
      waitMs = Math.min(waitMs * 2, LAST_DELIVERY_BACKOFF.maxMs, halfAckWaitMs);
    }
  }
  msg.term();
  return 'terminated';
}

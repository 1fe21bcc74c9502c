/**
 * Metrics of the dead-letter sink and redrive loops, registered on the dispatcher's registry
 * (as the ledger's are), so they live next to the loops that count them.
 */
import { Counter, type Registry } from 'prom-client';

export const DeadLetterSinkOutcome = {
  Delivered: 'delivered',
  Retried: 'retried',
  /** Attempts used up, or an answer retrying cannot change: acked, never dead-lettered again. */
  GivenUp: 'given_up',
} as const;
export type DeadLetterSinkOutcome =
  (typeof DeadLetterSinkOutcome)[keyof typeof DeadLetterSinkOutcome];

export const RedriveOutcome = {
  Delivered: 'delivered',
  Retried: 'retried',
  /** Failed again: back in HERALD_DLQ. */
  DeadLettered: 'dead_lettered',
  /** The ledger says it was delivered within the window: acked without a POST. */
  AlreadyDelivered: 'already_delivered',
  /** The subscription is gone, paused or not deliverable: acked, the dead letter stays. */
  Dropped: 'dropped',
} as const;
export type RedriveOutcome = (typeof RedriveOutcome)[keyof typeof RedriveOutcome];

export interface DeadLetterMetrics {
  /** One per POST to a dead-letter sink, plus one `given_up` per dead letter abandoned. */
  sinkDeliveries: Counter<'namespace' | 'subscription' | 'outcome' | 'status_class'>;
  /** One per settled redrive message. */
  redrives: Counter<'namespace' | 'subscription' | 'outcome'>;
}

export function createDeadLetterMetrics(registry: Registry): DeadLetterMetrics {
  return {
    sinkDeliveries: new Counter({
      name: 'herald_dispatcher_dead_letter_sink_deliveries_total',
      help: 'Deliveries of dead letters to Subscriptions’ dead-letter sinks, by outcome',
      labelNames: ['namespace', 'subscription', 'outcome', 'status_class'],
      registers: [registry],
    }),
    redrives: new Counter({
      name: 'herald_dispatcher_redrives_total',
      help: 'Redriven dead letters by how they were settled',
      labelNames: ['namespace', 'subscription', 'outcome'],
      registers: [registry],
    }),
  };
}

/** One POST of one event to a subscription's sink, timed, and the message kept meanwhile. */
import type { JsMsg } from '@nats-io/jetstream';
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { SinkClients } from './deliver.js';
import type { DispatcherMetrics } from './metrics.js';
import type { PreparedSubscription } from './prepare.js';
import { AttemptFailure, statusClassOf, type AttemptResult } from './retry.js';

export interface TimedAttempt {
  result: AttemptResult;
  /** Wall-clock start, ms since the epoch. */
  startedAt: number;
  latencyMs: number;
}

/** Builds and sends the request; never throws (a request that cannot be built is `internal`). */
export async function attemptDelivery(
  sinks: SinkClients,
  metrics: DispatcherMetrics,
  sub: PreparedSubscription,
  event: CloudEvent,
  webhookId: string,
): Promise<TimedAttempt> {
  const { target } = sub;
  let result: AttemptResult;
  const startedAt = Date.now();
  const started = performance.now();
  try {
    const request = target.buildRequest(event, webhookId, Math.floor(startedAt / 1000));
    result = await sinks.send(request, target.timeoutMs);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    result = { kind: 'failure', failure: AttemptFailure.Internal, message };
  }
  const latencyMs = performance.now() - started;
  metrics.deliveryDuration.observe(
    { namespace: sub.namespace, subscription: sub.name, status_class: statusClassOf(result) },
    latencyMs / 1000,
  );
  return { result, startedAt, latencyMs };
}

/**
 * Sends in-progress acks while a request (and its settlement) runs, when it could outlive
 * half the consumer's ack_wait; otherwise JetStream would redeliver mid-request. ack_wait is
 * read when the loop attaches to its consumer; a timeout changed in place makes the operator
 * raise or lower ack_wait with it (always above the timeout), and either way the cached value
 * errs on the side of more in-progress acks, never fewer than needed. Returns the stopper.
 */
export function keepMessageWhileRunning(
  msg: JsMsg,
  ackWaitMs: number | undefined,
  timeoutMs: number,
): () => void {
  if (!ackWaitMs) return () => {};
  const everyMs = Math.max(500, Math.floor(ackWaitMs / 2));
  if (timeoutMs < everyMs) return () => {};
  const timer = setInterval(() => msg.working(), everyMs);
  return () => clearInterval(timer);
}

/**
 * Delivery of dead letters to Subscriptions' dead-letter sinks (`delivery.deadLetter.sink`):
 * one loop per dispatcher on the shared durable `herald-dlq-sink` on HERALD_DLQ. A dead letter
 * of a subscription with a dead-letter sink is POSTed there in CloudEvents binary mode — the
 * original event with its `heralderror*` attributes as `ce-` headers — signed with the
 * subscription's secrets, through the same SinkClients as every delivery (SSRF guard, pools,
 * timeouts) and retried with the subscription's retry policy via nak(delay). When the
 * attempts run out, or the answer cannot change by retrying, the dead letter is acked: it is
 * never dead-lettered again (it is still in HERALD_DLQ), only counted and logged. Dead letters
 * of subscriptions without a dead-letter sink are acked at once.
 */
import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { decodeStructured } from '../core/cloudevents/index.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { Logger } from '../core/logging.js';
import { DLQ_SINK_CONSUMER, DLQ_STREAM } from '../core/topology.js';
import { keepMessageWhileRunning } from './attempt.js';
import { DeadLetterSinkOutcome, type DeadLetterMetrics } from './dead-letter-metrics.js';
import { webhookIdFor, type DeliveryTarget, type SinkClients } from './deliver.js';
import type { PreparedSubscriptions } from './prepared-subscriptions.js';
import {
  AttemptFailure,
  decideNextStep,
  statusClassOf,
  type AttemptResult,
  type RetryPolicy,
} from './retry.js';
import {
  startSharedConsumerLoop,
  subscriptionOfSubject,
  type SharedConsumerLoop,
  type SharedMessageContext,
} from './shared-consumer-loop.js';

export interface DeadLetterSinkLoopOptions {
  js: JetStreamClient;
  subscriptions: PreparedSubscriptions;
  sinks: SinkClients;
  metrics: DeadLetterMetrics;
  logger: Logger;
  /** Dead letters POSTed at once by this dispatcher (default 8). */
  concurrency?: number;
  /** Jitter source; tests pin it. */
  random?: () => number;
}

const DEFAULT_CONCURRENCY = 8;
/** status_class when nothing was sent. */
const NO_ATTEMPT = 'none';

/**
 * `webhook-id` of a dead letter's delivery: stable across retries and dispatchers, and
 * distinct from the event's own webhook-id (the dead letter is a different message to the
 * receiver). `deadLetterId` is the dead letter's Nats-Msg-Id.
 */
export function deadLetterWebhookIdFor(
  namespace: string,
  subscription: string,
  deadLetterId: string,
): string {
  return webhookIdFor(namespace, subscription, `dead-letter\0${deadLetterId}`);
}

export function startDeadLetterSinkLoop(options: DeadLetterSinkLoopOptions): SharedConsumerLoop {
  const log = options.logger.child({ loop: 'dead-letter-sink' });
  return startSharedConsumerLoop({
    js: options.js,
    stream: DLQ_STREAM,
    durable: DLQ_SINK_CONSUMER,
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    logger: log,
    handle: (msg, ctx) => deliverDeadLetter(options, log, msg, ctx),
  });
}

async function deliverDeadLetter(
  o: DeadLetterSinkLoopOptions,
  baseLog: Logger,
  msg: JsMsg,
  ctx: SharedMessageContext,
): Promise<void> {
  const owner = subscriptionOfSubject(msg.subject, 'dlq');
  if (!owner) {
    baseLog.warn({ seq: msg.seq }, 'dead letter on an unexpected subject; skipped');
    msg.ack();
    return;
  }
  const { namespace, name } = owner;
  const found = o.subscriptions.deadLetterTarget(namespace, name);
  // Most dead letters: no dead-letter sink (or no subscription any more). HERALD_DLQ keeps them.
  if (found.state === 'missing' || found.state === 'none') {
    msg.ack();
    return;
  }
  const log = baseLog.child({ namespace, subscription: name });
  const attempt = msg.info.deliveryCount;
  const where = { seq: msg.seq, attempt };
  const giveUp = (statusClass: string, fields: Record<string, unknown>, why: string): void => {
    msg.ack();
    o.metrics.sinkDeliveries.inc({
      namespace,
      subscription: name,
      outcome: DeadLetterSinkOutcome.GivenUp,
      status_class: statusClass,
    });
    log.warn({ ...where, ...fields }, `${why}; the dead letter stays in HERALD_DLQ only`);
  };
  if (found.state === 'not_deliverable') {
    giveUp(
      NO_ATTEMPT,
      { code: found.error.code, detail: found.error.message },
      'dead-letter sink not usable',
    );
    return;
  }
  let event: CloudEvent;
  try {
    event = decodeStructured(msg.data);
  } catch (err) {
    giveUp(
      NO_ATTEMPT,
      { err: err instanceof Error ? err.message : String(err) },
      'dead letter is not a CloudEvent',
    );
    return;
  }
  const retry: RetryPolicy = {
    ...found.config.delivery.retry,
    maxAttempts: Math.max(1, found.config.delivery.retry.maxAttempts),
  };
  const fields = { ...where, eventId: event.attributes.id, maxAttempts: retry.maxAttempts };
  if (attempt > retry.maxAttempts) {
    // Only after the last attempt could not be settled (a dispatcher stopped or crashed).
    giveUp(NO_ATTEMPT, fields, 'dead-letter sink: no attempt left');
    return;
  }
  const deadLetterId = msg.headers?.get('Nats-Msg-Id') || `${msg.info.stream}:${msg.seq}`;
  const webhookId = deadLetterWebhookIdFor(namespace, name, deadLetterId);
  const result = await postDeadLetter(o.sinks, found.target, event, webhookId, msg, ctx);
  const statusClass = statusClassOf(result);
  // A 410 here cannot pause anything: it is a failure of the dead-letter sink like any 4xx.
  const step = decideNextStep(result, attempt, retry, {
    pauseOnGone: false,
    ...(o.random ? { random: o.random } : {}),
  });
  const labels = { namespace, subscription: name, status_class: statusClass };
  const status = result.kind === 'response' ? result.status : undefined;
  switch (step.action) {
    case 'ack':
      msg.ack();
      o.metrics.sinkDeliveries.inc({ ...labels, outcome: DeadLetterSinkOutcome.Delivered });
      log.debug({ ...fields, status }, 'dead letter delivered to the dead-letter sink');
      return;
    case 'nak':
      msg.nak(step.delayMs);
      o.metrics.sinkDeliveries.inc({ ...labels, outcome: DeadLetterSinkOutcome.Retried });
      log.warn(
        { ...fields, status, delayMs: step.delayMs, reason: step.reason },
        'dead-letter sink attempt failed; retrying',
      );
      return;
    case 'dead_letter':
    case 'pause':
      giveUp(statusClass, { ...fields, status, reason: step.reason }, 'dead-letter sink gave up');
      return;
  }
}

async function postDeadLetter(
  sinks: SinkClients,
  target: DeliveryTarget,
  event: CloudEvent,
  webhookId: string,
  msg: JsMsg,
  ctx: SharedMessageContext,
): Promise<AttemptResult> {
  const stopKeepAlive = keepMessageWhileRunning(msg, ctx.ackWaitMs, target.timeoutMs);
  try {
    const request = target.buildRequest(event, webhookId, Math.floor(Date.now() / 1000));
    return await sinks.send(request, target.timeoutMs);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { kind: 'failure', failure: AttemptFailure.Internal, message };
  } finally {
    stopKeepAlive();
  }
}

/**
 * The attach-and-consume loop both kinds of consume loop run (per subscription, and the shared
 * dead-letter-sink and redrive durables): look the durable up, read its ack_wait, consume until
 * the iterator ends; when the consumer or stream is missing (the operator is not done yet, or
 * older than this dispatcher) or consuming fails, say so once and retry with backoff until
 * stopped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type Consumer,
  type JetStreamClient,
} from '@nats-io/jetstream';
import type { Logger } from '../core/logging.js';

/** Retry from 250 ms up to 15 s apart. */
const RECONNECT_BACKOFF = { initialMs: 250, maxMs: 15_000 } as const;

export interface ConsumerAttachOptions {
  js: JetStreamClient;
  stream: string;
  durable: string;
  log: Logger;
  signal: AbortSignal;
  isStopping(): boolean;
  /** Consumes until the iterator ends (throws when it ends while not stopping). */
  consume(consumer: Consumer, ackWaitMs: number | undefined): Promise<void>;
}

/** Resolves once stopping; never rejects. */
export async function consumeWithReconnect(o: ConsumerAttachOptions): Promise<void> {
  let backoffMs: number = RECONNECT_BACKOFF.initialMs;
  let failures = 0;
  while (!o.isStopping()) {
    try {
      const consumer = await o.js.consumers.get(o.stream, o.durable);
      const ackWait = (await consumer.info(true)).config.ack_wait;
      if (failures > 0) o.log.info('consumer available; consuming');
      failures = 0;
      backoffMs = RECONNECT_BACKOFF.initialMs;
      await o.consume(consumer, ackWait ? Math.floor(ackWait / 1e6) : undefined);
    } catch (err) {
      if (o.isStopping()) break;
      failures++;
      const missing =
        err instanceof JetStreamApiError &&
        (err.code === JetStreamApiCodes.ConsumerNotFound ||
          err.code === JetStreamApiCodes.StreamNotFound);
      o.log[failures === 1 || failures % 20 === 0 ? 'warn' : 'debug'](
        { err: missing ? undefined : err, failures, retryInMs: backoffMs },
        missing ? 'consumer or stream not found yet; retrying' : 'consuming failed; retrying',
      );
      await sleep(backoffMs, undefined, { signal: o.signal }).catch(() => {});
      backoffMs = Math.min(backoffMs * 2, RECONNECT_BACKOFF.maxMs);
    }
  }
}

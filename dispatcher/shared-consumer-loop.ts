/**
 * A pull loop on one of the dispatchers' shared system durables (the dead-letter sink on
 * HERALD_DLQ, redrives on HERALD_REDRIVE): every dispatcher replica pulls from the same durable,
 * so JetStream spreads the work. The operator creates the consumer; until it exists (or after
 * it vanishes) the loop retries with backoff, as the subscription loops do. Up to `concurrency`
 * messages are handled at once; every settlement is the handler's.
 */
import {
  type Consumer,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import { ErrorCode, HeraldError } from '../core/errors.js';
import type { Logger } from '../core/logging.js';
import { consumeWithReconnect } from './consumer-attach.js';
import { FALLBACK_NAK_MS } from './dead-letter-settle.js';
import { Slots } from './slots.js';

/** What a handler may use: stopping, and the consumer's ack_wait for in-progress acks. */
export interface SharedMessageContext {
  /** Aborts when the loop stops: waits end early, in-flight POSTs still finish. */
  signal: AbortSignal;
  /** The consumer's ack_wait in ms, when known. */
  ackWaitMs: number | undefined;
  isStopping(): boolean;
}

export interface SharedConsumerLoopOptions {
  js: JetStreamClient;
  stream: string;
  durable: string;
  /** Messages handled at once by this dispatcher. */
  concurrency: number;
  logger: Logger;
  /** Settles `msg` (ack, nak, term). A throw is logged and the message nak'd. */
  handle(msg: JsMsg, ctx: SharedMessageContext): Promise<void>;
}

export interface SharedConsumerLoop {
  /** Stops pulling; handlers in flight finish, pulled messages not started are nak'd. */
  stop(): Promise<void>;
}

export function startSharedConsumerLoop(options: SharedConsumerLoopOptions): SharedConsumerLoop {
  return new SharedConsumerRunner(options);
}

class SharedConsumerRunner implements SharedConsumerLoop {
  private readonly log: Logger;
  private readonly slots: Slots;
  private readonly inflight = new Set<Promise<void>>();
  /** Stream sequences handled here: a copy redelivered meanwhile is left to the running one. */
  private readonly handling = new Set<number>();
  private readonly stopSignal = new AbortController();
  private messages: ConsumerMessages | undefined;
  private ackWaitMs: number | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly running: Promise<void>;

  constructor(private readonly o: SharedConsumerLoopOptions) {
    this.log = o.logger.child({ stream: o.stream, consumer: o.durable });
    this.slots = new Slots(Math.max(1, o.concurrency));
    this.running = this.run().catch((err: unknown) => {
      this.log.error({ err }, 'shared consumer loop failed');
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
    await consumeWithReconnect({
      js: this.o.js,
      stream: this.o.stream,
      durable: this.o.durable,
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
    const messages = await consumer.consume({ max_messages: Math.max(1, this.o.concurrency) });
    this.messages = messages;
    if (this.stopping) {
      // Not awaited: close() resolves when the iterator is drained, and nothing iterates it.
      void messages.close().catch(() => undefined);
      return;
    }
    for await (const msg of messages) {
      // The shared durables have no max_deliver: a nak only brings the message back.
      if (this.stopping) {
        msg.nak();
        continue;
      }
      if (this.handling.has(msg.seq)) continue;
      await this.slots.acquire();
      if (this.stopping) {
        msg.nak();
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

  private async handleMessage(msg: JsMsg): Promise<void> {
    const ctx: SharedMessageContext = {
      signal: this.stopSignal.signal,
      ackWaitMs: this.ackWaitMs,
      isStopping: () => this.stopping,
    };
    try {
      await this.o.handle(msg, ctx);
    } catch (err) {
      this.log.error({ err, seq: msg.seq }, 'unexpected error handling a message; redelivering');
      msg.nak(FALLBACK_NAK_MS);
    }
  }
}

/**
 * The subscription a system subject names: `herald.<kind>.<namespace>.<name>` (core/topology.ts;
 * namespaces and names are DNS labels, so they hold no dots). Undefined for anything else.
 */
export function subscriptionOfSubject(
  subject: string,
  kind: 'dlq' | 'redrive',
): { namespace: string; name: string } | undefined {
  const [herald, k, namespace, name, ...rest] = subject.split('.');
  if (herald !== 'herald' || k !== kind || !namespace || !name || rest.length > 0) return undefined;
  return { namespace, name };
}

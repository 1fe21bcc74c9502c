/**
 * The delivery ledger (DESIGN.md §1 principle 4): which (subscription, event) pairs were
 * delivered within the window, in KV `herald-delivered` (bucket TTL = the window). The consume
 * loop asks before each POST — a hit is acked without a POST — and records after a 2xx, before
 * the ack. So a JetStream redelivery of an event already delivered (a dispatcher crash between
 * the ledger write and the ack; nats-server losing acks in its own crash) never reaches the
 * webhook again within the window.
 *
 * The ledger narrows duplicates; it never holds delivery hostage. When it cannot be read after
 * a few tries, the event is delivered anyway; when a write keeps failing after a successful
 * POST, the message is acked anyway. Both are logged and counted, and the stable webhook-id
 * lets receivers dedup what slips through (docs/delivery.md "The delivery ledger").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../core/logging.js';
import { ledgerKeyFor } from '../core/topology.js';
import type { LedgerStore } from './ledger-client.js';

export interface LedgerRetryPolicy {
  /** Reads per check before delivering without it. */
  readTries: number;
  /** How long a write is retried after a successful POST before acking without it. */
  writeBudgetMs: number;
  /** Waits between tries double from this… */
  initialDelayMs: number;
  /** …up to this. */
  maxDelayMs: number;
}

/**
 * Reads give up fast: the POST they guard is usually the first for that event. Writes try for
 * longer, since a missed write is what lets a later redelivery through; 20 s spans a
 * nats-server restart and stays under the 30 s margin ack_wait keeps over the webhook timeout.
 */
export const DEFAULT_LEDGER_RETRY: LedgerRetryPolicy = {
  readTries: 3,
  writeBudgetMs: 20_000,
  initialDelayMs: 100,
  maxDelayMs: 2_000,
} as const;

export const LedgerOperation = { Read: 'read', Write: 'write' } as const;
export type LedgerOperation = (typeof LedgerOperation)[keyof typeof LedgerOperation];

export interface LedgerMetrics {
  /** Redeliveries of delivered events, acked without a POST. */
  hits: Counter<'namespace' | 'subscription'>;
  /** Checks delivered without the ledger (read) and deliveries acked unrecorded (write). */
  failures: Counter<'namespace' | 'subscription' | 'operation'>;
}

export function createLedgerMetrics(registry: Registry): LedgerMetrics {
  return {
    hits: new Counter({
      name: 'herald_dispatcher_ledger_hits_total',
      help: 'Redeliveries of already delivered events acked without a POST (delivery ledger hits)',
      labelNames: ['namespace', 'subscription'],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'herald_dispatcher_ledger_failures_total',
      help: 'Ledger reads (event delivered unchecked) and writes (event acked unrecorded) given up',
      labelNames: ['namespace', 'subscription', 'operation'],
      registers: [registry],
    }),
  };
}

/** One delivery's ledger entry: the subscription and the event's Nats-Msg-Id. */
export interface LedgerEntry {
  namespace: string;
  subscription: string;
  messageId: string;
}

/** Per call: where to log, and how to keep the message while retrying. */
export interface LedgerCall {
  log: Logger;
  /** Logged with every line (eventId, seq, attempt). */
  fields: Record<string, unknown>;
  /** An in-progress ack, sent before every retry so JetStream keeps the message. */
  hold?: () => void;
  /** The consume loop stopping: no more waiting between tries. */
  signal?: AbortSignal;
}

export class DeliveryLedger {
  private readonly retry: LedgerRetryPolicy;

  constructor(
    private readonly store: LedgerStore,
    private readonly metrics: LedgerMetrics,
    retry: Partial<LedgerRetryPolicy> = {},
  ) {
    this.retry = { ...DEFAULT_LEDGER_RETRY, ...retry };
  }

  /** True when the event was delivered to this subscription within the window (a hit). */
  async isDelivered(entry: LedgerEntry, call: LedgerCall): Promise<boolean> {
    const key = keyOf(entry);
    let delayMs = this.retry.initialDelayMs;
    for (let tryNo = 1; ; tryNo++) {
      try {
        const hit = await this.store.has(key);
        if (hit) {
          this.metrics.hits.inc(labelsOf(entry));
          call.log.debug(call.fields, 'already delivered (ledger hit); acked without a POST');
        }
        return hit;
      } catch (err) {
        if (tryNo >= this.retry.readTries || call.signal?.aborted) {
          this.metrics.failures.inc({ ...labelsOf(entry), operation: LedgerOperation.Read });
          call.log.warn(
            { ...call.fields, err, tries: tryNo },
            'cannot read the delivery ledger; delivering without the check',
          );
          return false;
        }
        delayMs = await this.pause(err, delayMs, call);
      }
    }
  }

  /**
   * Records a delivery after its 2xx; the caller acks once this resolves. Never rejects: true
   * when recorded, false when every try within the budget failed (logged and counted).
   */
  async recordDelivery(entry: LedgerEntry, call: LedgerCall, value = ''): Promise<boolean> {
    const key = keyOf(entry);
    const started = Date.now();
    let delayMs = this.retry.initialDelayMs;
    for (let tryNo = 1; ; tryNo++) {
      try {
        await this.store.put(key, value);
        if (tryNo > 1) call.log.info({ ...call.fields, tries: tryNo }, 'delivery recorded');
        return true;
      } catch (err) {
        const outOfTime = Date.now() - started + delayMs > this.retry.writeBudgetMs;
        if (outOfTime || call.signal?.aborted) {
          this.metrics.failures.inc({ ...labelsOf(entry), operation: LedgerOperation.Write });
          call.log.error(
            { ...call.fields, err, tries: tryNo },
            'cannot record the delivery in the ledger; acking anyway (a redelivery would reach the sink again, with the same webhook-id)',
          );
          return false;
        }
        delayMs = await this.pause(err, delayMs, call);
      }
    }
  }

  close(): void {
    this.store.close();
  }

  /** Between tries: repair the bucket if it vanished, keep the message, wait; next delay. */
  private async pause(err: unknown, delayMs: number, call: LedgerCall): Promise<number> {
    call.log.debug({ ...call.fields, err, retryInMs: delayMs }, 'delivery ledger request failed');
    await this.store.repair(err).catch((repairErr: unknown) => {
      call.log.debug({ err: repairErr }, 'cannot recreate the delivery ledger bucket');
    });
    call.hold?.();
    await sleep(delayMs, undefined, call.signal ? { signal: call.signal } : {}).catch(() => {});
    return Math.min(delayMs * 2, this.retry.maxDelayMs);
  }
}

function keyOf(entry: LedgerEntry): string {
  return ledgerKeyFor(entry.namespace, entry.subscription, entry.messageId);
}

function labelsOf(entry: LedgerEntry): { namespace: string; subscription: string } {
  return { namespace: entry.namespace, subscription: entry.subscription };
}

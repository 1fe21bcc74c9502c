/**
 * The CloudEvents webhook validation handshake ("HTTP 1.1 Web Hooks for Event Delivery" §4,
 * abuse protection) for subscriptions with `sink.verification: handshake`. Before the first
 * delivery to a sink, the dispatcher sends it an OPTIONS request with `WebHook-Request-Origin`
 * (and `WebHook-Request-Rate` when the subscription has a rate limit) and the sink auth the
 * deliveries carry (an oauth2 token included, deliver.ts sendOptions); the sink consents only
 * by answering 2xx with `WebHook-Allowed-Origin` naming that origin or `*`. Until then no POST
 * goes out: the attempts wait here (their messages held with in-progress acks, the rest in the
 * consumer) and the request is repeated with backoff. A granted `WebHook-Allowed-Rate` caps the
 * subscription's rate (rate-limit.ts reads it through grantedRateOf).
 *
 * The verified state is per (subscription, sink URL) and held in memory by each dispatcher: a
 * new sink URL is verified again, a restarted dispatcher verifies again, it never expires
 * otherwise. The callback variant (`WebHook-Request-Callback`) is not supported: it needs an
 * endpoint on the dispatcher that sinks can reach, so that header is never sent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CompiledSubscription } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import type { DeliveryHooks } from './delivery-hooks.js';
import type { SinkClients } from './deliver.js';
import {
  HandshakeHeader,
  judgeAnswer,
  VerificationReason,
  VerificationStatus,
  type VerificationState,
} from './handshake-answer.js';
import type { PreparedSubscription } from './prepare.js';

// Where dispatcher/main.ts and the tests have always found them.
export {
  judgeAnswer,
  parseAllowedRate,
  VerificationReason,
  VerificationStatus,
  type VerificationState,
} from './handshake-answer.js';

/** What the dispatcher calls itself in `WebHook-Request-Origin` unless told otherwise. */
export const DEFAULT_WEBHOOK_ORIGIN = 'herald';

/** Between validation requests the sink did not consent to: 1 s doubling up to 2 min. */
export const DEFAULT_HANDSHAKE_RETRY = { initialMs: 1_000, maxMs: 120_000 } as const;

export const HandshakeErrorCode = {
  /** `--webhook-origin` is not a DNS name. */
  InvalidOrigin: 'ERR_INVALID_WEBHOOK_ORIGIN',
  /** The subscription's sink changed while an attempt waited for the handshake. */
  SinkChanged: 'ERR_SINK_CHANGED',
} as const;
export type HandshakeErrorCode = (typeof HandshakeErrorCode)[keyof typeof HandshakeErrorCode];

export class HandshakeError extends Error {
  readonly code: HandshakeErrorCode;
  /** A changed sink gives the waiting event back at once (delivery-hooks.ts GiveBack). */
  readonly giveBack: boolean;
  constructor(code: HandshakeErrorCode, message: string) {
    super(message);
    this.name = 'HandshakeError';
    this.code = code;
    this.giveBack = code === HandshakeErrorCode.SinkChanged;
  }
}

const DNS_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

/** The origin as sent; refuses anything but a DNS name (the spec's "DNS expression"). */
export function checkWebhookOrigin(origin: string): string {
  if (!DNS_NAME.test(origin)) {
    throw new HandshakeError(
      HandshakeErrorCode.InvalidOrigin,
      `the webhook origin must be a DNS name such as events.example.com, not "${origin.slice(0, 80)}"`,
    );
  }
  return origin.toLowerCase();
}

export interface HandshakeHookOptions {
  sinks: Pick<SinkClients, 'sendOptions'>;
  /** WebHook-Request-Origin (checkWebhookOrigin); default DEFAULT_WEBHOOK_ORIGIN. */
  origin?: string;
  logger: Logger;
  /** Told on every change of a subscription's state (for its SinkVerified condition). */
  onVerification?: (id: string, state: VerificationState) => void;
  retry?: { initialMs: number; maxMs: number };
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The handshake with one sink URL of one subscription. */
interface Entry {
  id: string;
  href: string;
  /** The latest subscription seen for it: the next request uses its headers and timeout. */
  sub: PreparedSubscription;
  state: VerificationState;
  waiters: Set<Waiter>;
  /** Set while requests are being made (only while attempts wait). */
  run: AbortController | undefined;
  delayMs: number;
  nextRequestAt: number;
  log: Logger;
}

export class HandshakeHook implements DeliveryHooks {
  readonly origin: string;
  private readonly entries = new Map<string, Entry>();
  /** Sink URL of each handshake subscription per the latest config change (see configChanged). */
  private readonly desired = new Map<string, string>();
  private readonly retry: { initialMs: number; maxMs: number };

  constructor(private readonly o: HandshakeHookOptions) {
    this.origin = checkWebhookOrigin(o.origin ?? DEFAULT_WEBHOOK_ORIGIN);
    this.retry = o.retry ?? DEFAULT_HANDSHAKE_RETRY;
  }

  /** The state of a handshake subscription in this dispatcher; undefined before its first event. */
  verificationOf(id: string): VerificationState | undefined {
    return this.entries.get(id)?.state;
  }

  /** The rate (events per second) the sink of `sub` granted; undefined = no cap from it. */
  grantedRateOf(sub: PreparedSubscription): number | undefined {
    if (sub.config.sink.verification !== 'handshake') return undefined;
    const entry = this.entries.get(sub.id);
    if (!entry || entry.href !== sub.target.url.href) return undefined;
    const perMinute = entry.state.allowedRatePerMinute;
    return entry.state.status === VerificationStatus.Verified && perMinute !== undefined
      ? perMinute / 60
      : undefined;
  }

  beforeAttempt(sub: PreparedSubscription, signal: AbortSignal): Promise<void> | undefined {
    if (sub.config.sink.verification !== 'handshake') return undefined;
    const href = sub.target.url.href;
    const desired = this.desired.get(sub.id);
    if (desired !== undefined && desired !== href) {
      // Taken before a change of sink URL: it is redelivered and goes to the new one.
      return Promise.reject(sinkChanged());
    }
    let entry = this.entries.get(sub.id);
    if (!entry || entry.href !== href) entry = this.replaceEntry(sub, href);
    entry.sub = sub;
    if (entry.state.status === VerificationStatus.Verified) return undefined;
    return this.waitFor(entry, signal);
  }

  /**
   * The config changed for subscription `id` (main.ts calls this from the config watch). Waiting
   * attempts that took the old config would otherwise hold every slot and never see the change:
   * they are released when the handshake is no longer asked for on the same URL, and refused
   * (so redelivered with the new config) when the sink URL changed.
   */
  configChanged(id: string, sub: CompiledSubscription | undefined): void {
    if (!sub) return; // removed: its loops stop, then subscriptionStopped forgets it
    const href = hrefOf(sub.sink.uri);
    if (sub.sink.verification === 'handshake' && href !== undefined) this.desired.set(id, href);
    else this.desired.delete(id);
    const entry = this.entries.get(id);
    if (!entry) return;
    if (sub.sink.verification !== 'handshake') {
      this.dropEntry(entry, href === entry.href ? undefined : sinkChanged());
    } else if (href !== entry.href) {
      this.dropEntry(entry, sinkChanged());
    }
  }

  /** A removed subscription's state is forgotten; a stopped (paused, restarted) one is kept. */
  subscriptionStopped(id: string, removed: boolean): void {
    if (!removed) return;
    const entry = this.entries.get(id);
    if (entry) this.dropEntry(entry, sinkChanged());
    this.desired.delete(id);
  }

  /** Stops every pending request loop (the dispatcher is stopping). */
  close(): void {
    for (const entry of [...this.entries.values()]) entry.run?.abort();
  }

  private replaceEntry(sub: PreparedSubscription, href: string): Entry {
    const old = this.entries.get(sub.id);
    if (old) this.dropEntry(old, sinkChanged());
    const sinkOrigin = sub.target.url.origin;
    const entry: Entry = {
      id: sub.id,
      href,
      sub,
      state: {
        status: VerificationStatus.Pending,
        reason: VerificationReason.Verifying,
        message: `validation request to ${sinkOrigin} not answered yet`,
        sinkOrigin,
        since: Date.now(),
      },
      waiters: new Set(),
      run: undefined,
      delayMs: this.retry.initialMs,
      nextRequestAt: 0,
      log: this.o.logger.child({ namespace: sub.namespace, subscription: sub.name }),
    };
    this.entries.set(sub.id, entry);
    this.notify(entry);
    return entry;
  }

  /** Forgets an entry; its waiters go ahead (no error) or are refused with `err`. */
  private dropEntry(entry: Entry, err: Error | undefined): void {
    if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
    entry.run?.abort();
    for (const w of entry.waiters) {
      if (err) w.reject(err);
      else w.resolve();
    }
    entry.waiters.clear();
  }

  private waitFor(entry: Entry, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        entry.waiters.delete(waiter);
        reject(signal.reason);
        // Nobody waits any more: stop asking until an attempt needs the sink again.
        if (entry.waiters.size === 0) entry.run?.abort();
      };
      const waiter: Waiter = {
        resolve: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      entry.waiters.add(waiter);
      // A run stopped for want of waiters may still be finishing its request: start afresh.
      if (!entry.run || entry.run.signal.aborted) void this.requestUntilVerified(entry);
    });
  }

  /** Sends validation requests, with backoff, until the sink consents or nobody waits. */
  private async requestUntilVerified(entry: Entry): Promise<void> {
    const run = new AbortController();
    entry.run = run;
    try {
      while (!run.signal.aborted && entry.waiters.size > 0) {
        const wait = entry.nextRequestAt - Date.now();
        if (wait > 0) {
          await sleep(wait, undefined, { signal: run.signal }).catch(() => undefined);
          continue;
        }
        const state = await this.requestConsent(entry.sub);
        if (run.signal.aborted || this.entries.get(entry.id) !== entry) return;
        this.setState(entry, state);
        if (state.status === VerificationStatus.Verified) {
          for (const w of entry.waiters) w.resolve();
          entry.waiters.clear();
          return;
        }
        entry.nextRequestAt = Date.now() + entry.delayMs;
        entry.delayMs = Math.min(entry.delayMs * 2, this.retry.maxMs);
      }
    } catch (err) {
      entry.log.error({ err }, 'webhook validation handshake failed unexpectedly');
    } finally {
      if (entry.run === run) entry.run = undefined;
    }
  }

  /** One OPTIONS request, and what its answer means. */
  private async requestConsent(sub: PreparedSubscription): Promise<VerificationState> {
    const headers: Record<string, string> = { [HandshakeHeader.RequestOrigin]: this.origin };
    const limit = sub.config.delivery.rateLimit?.eventsPerSecond;
    if (limit !== undefined) headers[HandshakeHeader.RequestRate] = String(Math.ceil(limit * 60));
    const result = await this.o.sinks.sendOptions(
      sub.target.buildValidationRequest(headers),
      sub.target.timeoutMs,
    );
    return judgeAnswer(result, this.origin, sub.target.url.origin);
  }

  private setState(entry: Entry, state: VerificationState): void {
    const old = entry.state;
    const changed =
      old.status !== state.status ||
      old.reason !== state.reason ||
      old.message !== state.message ||
      old.allowedRatePerMinute !== state.allowedRatePerMinute;
    if (!changed) {
      entry.log.debug(
        { reason: state.reason, retryInMs: entry.delayMs },
        'sink still not verified; asking again later',
      );
      return;
    }
    entry.state = state;
    if (state.status === VerificationStatus.Verified) {
      entry.log.info(
        { sink: state.sinkOrigin, allowedRatePerMinute: state.allowedRatePerMinute ?? '*' },
        'sink verified (webhook validation handshake); delivering',
      );
    } else {
      entry.log.warn(
        {
          sink: state.sinkOrigin,
          reason: state.reason,
          detail: state.message,
          retryInMs: entry.delayMs,
        },
        'sink not verified (webhook validation handshake); its events wait',
      );
    }
    this.notify(entry);
  }

  private notify(entry: Entry): void {
    try {
      this.o.onVerification?.(entry.id, entry.state);
    } catch (err) {
      entry.log.error({ err }, 'onVerification callback failed');
    }
  }
}

function hrefOf(uri: string): string | undefined {
  try {
    return new URL(uri).href;
  } catch {
    return undefined;
  }
}

function sinkChanged(): HandshakeError {
  return new HandshakeError(
    HandshakeErrorCode.SinkChanged,
    'the subscription’s sink changed while this event waited for the webhook validation handshake; it is redelivered',
  );
}

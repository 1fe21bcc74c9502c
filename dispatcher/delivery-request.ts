/**
 * What one delivery sends (deliver.ts sends it): the request for an event in CloudEvents
 * binary or structured mode, with the Standard Webhooks headers and the sink auth, and the
 * validation handshake's OPTIONS request. The target holds the unsealed secrets.
 */
import { createHash } from 'node:crypto';
import { encodeBinary, encodeStructuredHttp } from '../core/cloudevents/index.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import { signWebhook, WebhookHeader } from '../core/signing.js';
import type { OAuth2Credentials } from './oauth2.js';

const WEBHOOK_ID_HASH_CHARS = 32; // 192 bits of sha256: unique enough, short in headers

/**
 * `webhook-id`: stable per (subscription, event) across redeliveries and dispatcher restarts,
 * so receivers can dedup; different per subscription, so one receiver behind two
 * subscriptions does not drop the second. `messageId` is the event's Nats-Msg-Id.
 */
export function webhookIdFor(namespace: string, subscription: string, messageId: string): string {
  const digest = createHash('sha256')
    .update(`${namespace}/${subscription}\0${messageId}`)
    .digest('base64url');
  return `msg_${digest.slice(0, WEBHOOK_ID_HASH_CHARS)}`;
}

/**
 * Where and how a subscription delivers. Holds unsealed secrets in private fields, and
 * serialises to a redacted summary, so logging it by mistake leaks nothing.
 */
export class DeliveryTarget {
  readonly url: URL;
  readonly mode: 'binary' | 'structured';
  readonly timeoutMs: number;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #signingSecrets: readonly string[];
  /** sink.auth.oauth2: the bearer token is fetched when each request is sent (oauth2.ts). */
  readonly oauth2: OAuth2Credentials | undefined;

  constructor(options: {
    url: URL;
    mode: 'binary' | 'structured';
    timeoutMs: number;
    /** Sent on every request (user-agent, sink auth). */
    headers: Record<string, string>;
    signingSecrets: readonly string[];
    oauth2?: OAuth2Credentials;
  }) {
    this.url = options.url;
    this.mode = options.mode;
    this.timeoutMs = options.timeoutMs;
    this.#headers = { ...options.headers };
    this.#signingSecrets = [...options.signingSecrets];
    this.oauth2 = options.oauth2;
  }

  get signed(): boolean {
    return this.#signingSecrets.length > 0;
  }

  /** The full request for one attempt; `nowSeconds` is the webhook-timestamp. */
  buildRequest(event: CloudEvent, webhookId: string, nowSeconds: number): DeliveryRequest {
    const message = this.mode === 'structured' ? encodeStructuredHttp(event) : encodeBinary(event);
    const headers: Record<string, string> = { ...message.headers, ...this.#headers };
    headers[WebhookHeader.Id] = webhookId;
    headers[WebhookHeader.Timestamp] = String(nowSeconds);
    if (this.#signingSecrets.length > 0) {
      headers[WebhookHeader.Signature] = signWebhook(
        this.#signingSecrets,
        webhookId,
        nowSeconds,
        message.body,
      );
    }
    return {
      url: this.url,
      headers,
      body: message.body,
      ...(this.oauth2 && { oauth2: this.oauth2 }),
    };
  }

  /**
   * The webhook validation handshake's OPTIONS request (handshake.ts): the same URL and the
   * same user-agent and sink auth (an oauth2 token too) as the deliveries, plus `headers`; no
   * body.
   */
  buildValidationRequest(headers: Record<string, string>): ValidationRequest {
    return {
      url: this.url,
      headers: { ...this.#headers, ...headers },
      ...(this.oauth2 && { oauth2: this.oauth2 }),
    };
  }

  /**
   * What logs may show: the sink's origin (scheme://host:port) only. Webhook paths and queries
   * often carry tokens, so they never reach a log line.
   */
  toJSON(): Record<string, unknown> {
    return {
      origin: this.url.origin,
      mode: this.mode,
      timeoutMs: this.timeoutMs,
      signed: this.signed,
      ...(this.oauth2 && { oauth2: this.oauth2.toJSON() }),
    };
  }
}

export interface DeliveryRequest {
  url: URL;
  /** Lower-case names; may carry credentials: never log. */
  headers: Record<string, string>;
  body: Uint8Array | string;
  /** Set: SinkClients.send adds `authorization: Bearer` from these credentials' token. */
  oauth2?: OAuth2Credentials;
}

export interface ValidationRequest {
  url: URL;
  /** Lower-case names; may carry credentials: never log. */
  headers: Record<string, string>;
  /** Set: SinkClients.sendOptions adds `authorization: Bearer` from these credentials' token. */
  oauth2?: OAuth2Credentials;
}

/**
 * One HTTP delivery to a sink: the POST (its request built by delivery-request.ts) over a
 * keep-alive pool per sink origin, and the handshake's OPTIONS and oauth2 token requests over
 * the same pools. Redirects are never followed: undici 7 follows none unless a redirect
 * interceptor is added, and none is. Every connection goes through the SSRF guard
 * (ssrf-connect.ts): the sink's host is resolved and checked once, and the checked address is
 * the one connected to.
 */
import { Pool } from 'undici';
import type { Logger } from '../core/logging.js';
import type { DeliveryRequest, ValidationRequest } from './delivery-request.js';
import {
  OAuth2TokenCache,
  sendWithOAuth2,
  TOKEN_RESPONSE_MAX_BYTES,
  type TokenHttpResult,
  type TokenRequest,
} from './oauth2.js';
import { AttemptFailure, type AttemptResult } from './retry.js';
import { createGuardedConnector, type GuardedConnectorOptions } from './ssrf-connect.js';
import {
  createSinkAddressPolicy,
  isForbiddenAddressError,
  type SinkAddressPolicy,
  type SinkAddressPolicyOptions,
} from './ssrf-policy.js';

/** Longest response excerpt kept for a dead letter. */
export const BODY_EXCERPT_BYTES = 1024;

// Where the dispatcher and the tests have always found them.
export { DeliveryTarget, webhookIdFor } from './delivery-request.js';

/**
 * What an OPTIONS request got: the status and the response headers, or why it got none —
 * `token-failure` when it was not sent for want of an oauth2 token (or of time after one).
 */
export type ValidationResult =
  | { kind: 'response'; status: number; headers: Record<string, string | string[] | undefined> }
  | Extract<AttemptResult, { kind: 'failure' }>
  | { kind: 'token-failure'; failure: AttemptFailure; message: string };

export interface SinkClientsOptions {
  /** The SSRF policy; without one, only public addresses are allowed. */
  policy?: SinkAddressPolicy | SinkAddressPolicyOptions;
  /** Name resolution and socket opening, for tests (see GuardedConnectorOptions). */
  lookup?: GuardedConnectorOptions['lookup'];
  connect?: GuardedConnectorOptions['connect'];
  /** Where refusals are logged (host, address, category; never the URL's path or query). */
  logger?: Logger;
}

/**
 * Keep-alive connection pools, one per sink origin, shared by every subscription. The
 * supervisor calls closeUnused() whenever the running subscriptions change, so the pools of
 * sinks nobody delivers to any more do not pile up.
 */
export class SinkClients {
  private readonly pools = new Map<string, Pool>();
  private closed = false;
  private readonly connector: ReturnType<typeof createGuardedConnector>;
  private readonly logger: Logger | undefined;
  /** OAuth 2.0 tokens of every subscription, shared by those with the same credentials. */
  private readonly tokens: OAuth2TokenCache;

  constructor(options: SinkClientsOptions = {}) {
    // A compiled policy (startDispatcher validates it before connecting) or its options.
    const policy =
      options.policy && 'blocked' in options.policy
        ? options.policy
        : createSinkAddressPolicy(options.policy);
    this.connector = createGuardedConnector({
      policy,
      ...(options.lookup ? { lookup: options.lookup } : {}),
      ...(options.connect ? { connect: options.connect } : {}),
    });
    this.logger = options.logger;
    this.tokens = new OAuth2TokenCache(
      (url, request, timeoutMs) => this.postForm(url, request, timeoutMs),
      options.logger ? { logger: options.logger } : {},
    );
  }

  /** Origins with an open pool (for tests and diagnostics). */
  get origins(): string[] {
    return [...this.pools.keys()];
  }

  /**
   * Closes the pools of every origin not in `inUse` (origins as URL.origin gives them).
   * Requests already queued on such a pool finish first (undici's close is graceful); a later
   * request to that origin simply opens a new pool.
   */
  closeUnused(inUse: ReadonlySet<string>): Promise<void> {
    const unused: Pool[] = [];
    for (const [origin, pool] of this.pools) {
      if (inUse.has(origin)) continue;
      this.pools.delete(origin);
      unused.push(pool);
    }
    return Promise.allSettled(unused.map((p) => p.close())).then(() => undefined);
  }

  private poolFor(url: URL): Pool {
    let pool = this.pools.get(url.origin);
    if (!pool) {
      // undici's keep-alive defaults (4 s idle unless the sink's Keep-Alive hint says more)
      // stay below common server idle timeouts, so a reused socket is rarely already closed.
      pool = new Pool(url.origin, { connect: this.connector });
      this.pools.set(url.origin, pool);
    }
    return pool;
  }

  /**
   * One attempt: POSTs once, or with oauth2 fetches the token first (cached) and, on a 401,
   * POSTs once more with a fresh one (sendWithOAuth2). Never throws: every outcome is an
   * AttemptResult.
   */
  async send(request: DeliveryRequest, timeoutMs: number): Promise<AttemptResult> {
    const { oauth2 } = request;
    if (!oauth2) return this.post(request, timeoutMs);
    return sendWithOAuth2(
      this.tokens,
      oauth2,
      timeoutMs,
      (authorization, ms) =>
        this.post({ ...request, headers: { ...request.headers, authorization } }, ms),
      (failure): AttemptResult => failure,
    );
  }

  /** One POST, its headers final. */
  private async post(request: DeliveryRequest, timeoutMs: number): Promise<AttemptResult> {
    if (this.closed) {
      return { kind: 'failure', failure: AttemptFailure.Internal, message: 'dispatcher stopping' };
    }
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const response = await this.poolFor(request.url).request({
        path: `${request.url.pathname}${request.url.search}`,
        method: 'POST',
        headers: request.headers,
        body: request.body,
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const { statusCode, headers, body } = response;
      if (statusCode >= 200 && statusCode < 300) {
        await body.dump().catch(() => undefined);
        return { kind: 'response', status: statusCode };
      }
      const result: AttemptResult = { kind: 'response', status: statusCode };
      const retryAfter = headers['retry-after'];
      if (typeof retryAfter === 'string') result.retryAfter = retryAfter;
      const excerpt = await readExcerpt(body, BODY_EXCERPT_BYTES).catch(() => undefined);
      if (excerpt) result.bodyExcerpt = excerpt;
      return result;
    } catch (err) {
      if (isForbiddenAddressError(err)) {
        this.logger?.warn(
          { origin: request.url.origin, address: err.address, category: err.category },
          'sink address refused by the SSRF policy',
        );
        return { kind: 'failure', failure: AttemptFailure.ForbiddenAddress, message: err.message };
      }
      if (timedOut) {
        return {
          kind: 'failure',
          failure: AttemptFailure.Timeout,
          message: `no response within ${timeoutMs} ms`,
        };
      }
      return { kind: 'failure', failure: AttemptFailure.Network, message: describeError(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One validation request (the handshake): an OPTIONS over the same pool and SSRF guard as
   * the POSTs; with oauth2, with the token the deliveries use, and on a 401 once more with a
   * fresh one, as for a delivery. Never throws; the body is discarded.
   */
  async sendOptions(request: ValidationRequest, timeoutMs: number): Promise<ValidationResult> {
    const { oauth2 } = request;
    if (!oauth2) return this.options(request, timeoutMs);
    return sendWithOAuth2(
      this.tokens,
      oauth2,
      timeoutMs,
      (authorization, ms) =>
        this.options({ ...request, headers: { ...request.headers, authorization } }, ms),
      ({ failure, message }): ValidationResult => ({ kind: 'token-failure', failure, message }),
    );
  }

  /** One OPTIONS, its headers final. */
  private async options(request: ValidationRequest, timeoutMs: number): Promise<ValidationResult> {
    if (this.closed) {
      return { kind: 'failure', failure: AttemptFailure.Internal, message: 'dispatcher stopping' };
    }
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const { statusCode, headers, body } = await this.poolFor(request.url).request({
        path: `${request.url.pathname}${request.url.search}`,
        method: 'OPTIONS',
        headers: request.headers,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      await body.dump().catch(() => undefined);
      return { kind: 'response', status: statusCode, headers };
    } catch (err) {
      if (isForbiddenAddressError(err)) {
        this.logger?.warn(
          { origin: request.url.origin, address: err.address, category: err.category },
          'sink address refused by the SSRF policy',
        );
        return { kind: 'failure', failure: AttemptFailure.ForbiddenAddress, message: err.message };
      }
      if (signal.aborted) {
        const message = `no response within ${timeoutMs} ms`;
        return { kind: 'failure', failure: AttemptFailure.Timeout, message };
      }
      return { kind: 'failure', failure: AttemptFailure.Network, message: describeError(err) };
    }
  }

  /**
   * One form POST to an OAuth 2.0 token endpoint (oauth2.ts), over the same pools and SSRF
   * guard as the deliveries. Reads at most TOKEN_RESPONSE_MAX_BYTES; never throws.
   */
  async postForm(url: URL, request: TokenRequest, timeoutMs: number): Promise<TokenHttpResult> {
    if (this.closed) {
      return { kind: 'failure', failure: AttemptFailure.Internal, message: 'dispatcher stopping' };
    }
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      const { statusCode, body } = await this.poolFor(url).request({
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: request.headers,
        body: request.body,
        signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await readExcerpt(body, TOKEN_RESPONSE_MAX_BYTES + 1);
      if (Buffer.byteLength(text) > TOKEN_RESPONSE_MAX_BYTES) {
        const message = `response larger than ${TOKEN_RESPONSE_MAX_BYTES} bytes`;
        return { kind: 'failure', failure: AttemptFailure.Internal, message };
      }
      return { kind: 'response', status: statusCode, body: text };
    } catch (err) {
      if (isForbiddenAddressError(err)) {
        this.logger?.warn(
          { origin: url.origin, address: err.address, category: err.category },
          'oauth2 token endpoint address refused by the SSRF policy',
        );
        return { kind: 'failure', failure: AttemptFailure.ForbiddenAddress, message: err.message };
      }
      if (signal.aborted) {
        const message = `no response within ${timeoutMs} ms`;
        return { kind: 'failure', failure: AttemptFailure.Timeout, message };
      }
      return { kind: 'failure', failure: AttemptFailure.Network, message: describeError(err) };
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.tokens.clear();
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map((p) => p.close()));
  }
}

/** An error's code and message, without stack or request details (which may hold headers). */
function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${typeof code === 'string' ? `${code} ` : ''}${err.message}${cause}`.slice(0, 300);
}

/** Reads at most `limit` bytes of a body as UTF-8, stopping (and discarding the rest) early. */
async function readExcerpt(body: AsyncIterable<Buffer>, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early destroys the stream (and this connection); fine on an error path.
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= limit) break;
  }
  return truncateUtf8(Buffer.concat(chunks), limit);
}

/** The longest prefix of `bytes` within `limit` that does not split a UTF-8 character. */
export function truncateUtf8(bytes: Buffer, limit: number): string {
  if (bytes.length <= limit) return bytes.toString('utf8');
  let end = limit;
  // 0b10xxxxxx is a continuation byte: back up to the start of its character.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

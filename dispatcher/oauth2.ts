/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4) for `sink.auth.oauth2`: the dispatcher asks the
 * token endpoint for an access token and sends it as `Authorization: Bearer`. Tokens are cached
 * per dispatcher until shortly before they expire, concurrent deliveries share one token
 * request, and a 401 from the sink fetches one fresh token and retries that attempt once.
 * The HTTP itself goes through SinkClients (deliver.ts), so the SSRF guard applies to token
 * endpoints as it does to sinks. The token also goes with the webhook validation handshake's
 * OPTIONS (handshake.ts). Neither the client secret, the private key, an assertion nor a token
 * ever reaches a message, a log line or an error: messages name the endpoint (origin and
 * path), the client id, the HTTP status and the endpoint's `error` code.
 */
import type { Logger } from '../core/logging.js';
import type { OAuth2Credentials, TokenRequest } from './oauth2-credentials.js';
import { AttemptFailure, type AttemptResult } from './retry.js';

export {
  formUrlEncode,
  OAuth2Credentials,
  type OAuth2ClientAuthentication,
  type OAuth2CredentialsOptions,
  type OAuth2PrivateKey,
  type TokenRequest,
} from './oauth2-credentials.js';

/** A token is refreshed this long before it expires (or at half its life, when shorter). */
export const TOKEN_REFRESH_SKEW_MS = 30_000;
/** How long a token without `expires_in` is used before a new one is fetched. */
export const DEFAULT_TOKEN_LIFETIME_MS = 5 * 60_000;
/** Longest a token is kept, whatever `expires_in` says. */
export const MAX_TOKEN_LIFETIME_MS = 24 * 3_600_000;
/** Largest token response read; a bigger one is refused. */
export const TOKEN_RESPONSE_MAX_BYTES = 64 * 1024;

/** `error` codes (RFC 6749 §5.2) that mean the configuration is wrong, not the endpoint busy. */
const CONFIGURATION_ERRORS = new Set([
  'invalid_client',
  'unauthorized_client',
  'invalid_grant',
  'invalid_scope',
  'unsupported_grant_type',
]);

/** The `error` of an OAuth2TokenError: why no token was obtained. */
export const OAuth2ErrorCode = {
  /** No answer: network error, timeout, or an address the SSRF policy refuses. */
  Unreachable: 'token_endpoint_unreachable',
  /** The endpoint answered with an error (e.g. 400 invalid_client for a wrong secret). */
  Refused: 'token_request_refused',
  /** A 2xx that is not a usable Bearer token response. */
  InvalidResponse: 'invalid_token_response',
} as const;
export type OAuth2ErrorCode = (typeof OAuth2ErrorCode)[keyof typeof OAuth2ErrorCode];

export class OAuth2TokenError extends Error {
  readonly code: OAuth2ErrorCode;
  /** How the failed attempt is classified: every kind but forbidden_address is retried. */
  readonly failure: AttemptFailure;
  /** The endpoint's own `error` code (RFC 6749 §5.2), when it sent one. */
  readonly endpointError: string | undefined;
  constructor(
    code: OAuth2ErrorCode,
    failure: AttemptFailure,
    message: string,
    endpointError?: string,
  ) {
    super(message);
    this.name = 'OAuth2TokenError';
    this.code = code;
    this.failure = failure;
    this.endpointError = endpointError;
  }
}

/** What one token request got; produced by SinkClients.postForm. */
export type TokenHttpResult =
  | { kind: 'response'; status: number; body: string }
  | { kind: 'failure'; failure: AttemptFailure; message: string };

export type TokenTransport = (
  url: URL,
  request: TokenRequest,
  timeoutMs: number,
) => Promise<TokenHttpResult>;

interface CachedToken {
  accessToken: string;
  /** Epoch ms after which the token is not handed out any more. */
  refreshAt: number;
}

/** Tokens of every subscription of one dispatcher, by OAuth2Credentials.cacheKey. */
export class OAuth2TokenCache {
  readonly #tokens = new Map<string, CachedToken>();
  readonly #inFlight = new Map<string, Promise<string>>();

  constructor(
    private readonly transport: TokenTransport,
    private readonly options: { logger?: Logger; now?: () => number } = {},
  ) {}

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  /** A token that is not about to expire: the cached one, or one fetched now. */
  token(creds: OAuth2Credentials, timeoutMs: number): Promise<string> {
    const cached = this.#tokens.get(creds.cacheKey);
    if (cached && this.now() < cached.refreshAt) return Promise.resolve(cached.accessToken);
    return this.fetchShared(creds, timeoutMs);
  }

  /**
   * A fresh token after the sink answered 401 to `rejected`. However many deliveries saw that
   * 401 at once, one token request is made: the first drops the cached token and fetches; the
   * others join that request or find its result in the cache.
   */
  refresh(creds: OAuth2Credentials, rejected: string, timeoutMs: number): Promise<string> {
    const cached = this.#tokens.get(creds.cacheKey);
    if (cached && cached.accessToken !== rejected && this.now() < cached.refreshAt) {
      return Promise.resolve(cached.accessToken);
    }
    if (cached?.accessToken === rejected) this.#tokens.delete(creds.cacheKey);
    return this.fetchShared(creds, timeoutMs);
  }

  /** Forgets every token (the dispatcher is stopping). */
  clear(): void {
    this.#tokens.clear();
  }

  /** Single flight: callers arriving while a request for the same key runs share its result. */
  private fetchShared(creds: OAuth2Credentials, timeoutMs: number): Promise<string> {
    const running = this.#inFlight.get(creds.cacheKey);
    if (running) return running;
    const request = this.fetchToken(creds, timeoutMs).finally(() => {
      this.#inFlight.delete(creds.cacheKey);
    });
    this.#inFlight.set(creds.cacheKey, request);
    return request;
  }

  private async fetchToken(creds: OAuth2Credentials, timeoutMs: number): Promise<string> {
    // Lifetimes count from the request, not the answer: the endpoint's clock started earlier.
    const requestedAt = this.now();
    try {
      const request = creds.buildTokenRequest(Math.floor(requestedAt / 1000));
      const result = await this.transport(creds.tokenUrl, request, timeoutMs);
      const token = this.readTokenResponse(creds, result);
      const lifetimeMs = lifetimeOf(token.expiresIn);
      if (lifetimeMs > 0) {
        const skew = Math.min(TOKEN_REFRESH_SKEW_MS, lifetimeMs / 2);
        this.pruneExpired();
        this.#tokens.set(creds.cacheKey, {
          accessToken: token.accessToken,
          refreshAt: requestedAt + lifetimeMs - skew,
        });
      }
      this.options.logger?.debug({ ...creds.toJSON(), lifetimeMs }, 'oauth2 access token obtained');
      return token.accessToken;
    } catch (err) {
      if (err instanceof OAuth2TokenError) this.logFailure(creds, err);
      throw err;
    }
  }

  private readTokenResponse(
    creds: OAuth2Credentials,
    result: TokenHttpResult,
  ): { accessToken: string; expiresIn: unknown } {
    const where = `oauth2 token endpoint ${creds.endpoint}`;
    if (result.kind === 'failure') {
      throw new OAuth2TokenError(
        OAuth2ErrorCode.Unreachable,
        result.failure,
        `${where} not reached: ${creds.redact(result.message)}`,
      );
    }
    const body = parseJsonObject(result.body);
    if (result.status < 200 || result.status >= 300) {
      // Redacted before being cut short: a secret cut in half would no longer be recognised.
      const shown = (value: unknown, max: number) =>
        printable(typeof value === 'string' ? creds.redact(value) : value, max);
      const error = shown(body?.error, 64);
      const description = shown(body?.error_description, 200);
      const detail = `${error ? `: ${error}` : ''}${description ? ` (${description})` : ''}`;
      throw new OAuth2TokenError(
        OAuth2ErrorCode.Refused,
        AttemptFailure.Internal,
        creds.redact(`${where} answered HTTP ${result.status}${detail}`),
        error || undefined,
      );
    }
    const invalid = (why: string) =>
      new OAuth2TokenError(
        OAuth2ErrorCode.InvalidResponse,
        AttemptFailure.Internal,
        `${where} answered HTTP ${result.status} but ${why}`,
      );
    if (!body) throw invalid('not with a JSON object');
    const accessToken = body.access_token;
    // A token goes into a header: visible ASCII only (RFC 6750 b64token is a subset).
    if (typeof accessToken !== 'string' || !/^[\x21-\x7e]+$/.test(accessToken)) {
      throw invalid('without a usable access_token');
    }
    const type = body.token_type;
    // Required by RFC 6749 §5.1, but some endpoints leave it out; absent is read as Bearer.
    if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'bearer')) {
      const shown = printable(type, 32) || typeof type;
      throw invalid(`with token_type "${shown}"; only Bearer tokens are supported`);
    }
    return { accessToken, expiresIn: body.expires_in };
  }

  private logFailure(creds: OAuth2Credentials, err: OAuth2TokenError): void {
    const configuration = CONFIGURATION_ERRORS.has(err.endpointError ?? '');
    const fields = { ...creds.toJSON(), code: err.code, reason: err.message };
    // A wrong secret or scope does not fix itself: say so loudly. Deliveries are retried anyway
    // (the endpoint or the Secret may be corrected meanwhile) and dead-lettered in the end.
    if (configuration) {
      this.options.logger?.error(
        fields,
        'oauth2 token request refused: check sink.auth.oauth2 (client id, secret or key, scopes, parameters)',
      );
    } else this.options.logger?.warn(fields, 'oauth2 token request failed');
  }

  private pruneExpired(): void {
    const now = this.now();
    for (const [key, token] of this.#tokens) if (token.refreshAt <= now) this.#tokens.delete(key);
  }
}

/** `expires_in` (seconds, a number or a numeric string) as ms; 0 = use once, never cache. */
function lifetimeOf(expiresIn: unknown): number {
  const seconds =
    typeof expiresIn === 'number'
      ? expiresIn
      : typeof expiresIn === 'string' && /^\d+(\.\d+)?$/.test(expiresIn.trim())
        ? Number(expiresIn)
        : undefined;
  if (seconds === undefined || !Number.isFinite(seconds)) return DEFAULT_TOKEN_LIFETIME_MS;
  return Math.min(Math.max(0, seconds * 1000), MAX_TOKEN_LIFETIME_MS);
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** A string from the endpoint, safe for one log line: printable ASCII, at most `max` chars. */
function printable(value: unknown, max: number): string {
  if (typeof value !== 'string') return '';
  return value.replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}

/** A failed attempt: what a token failure or a lack of time becomes (see sendWithOAuth2). */
export type OAuth2Failure = Extract<AttemptResult, { kind: 'failure' }>;

/**
 * One request with a bearer token from `tokens` (a delivery's POST, or the validation
 * handshake's OPTIONS): the token is fetched (or taken from the cache), the request sent; on a
 * 401, one fresh token and one more send. The whole stays within twice `timeoutMs` (the
 * consumer's ack_wait is at least that), each request within `timeoutMs`. Never throws: a token
 * failure, or no time left after waiting for a token, becomes `failed(…)`.
 */
export async function sendWithOAuth2<R extends { kind: string }>(
  tokens: OAuth2TokenCache,
  creds: OAuth2Credentials,
  timeoutMs: number,
  send: (authorization: string, timeoutMs: number) => Promise<R>,
  failed: (failure: OAuth2Failure) => R,
): Promise<R> {
  const deadline = performance.now() + 2 * timeoutMs;
  const left = () => Math.min(timeoutMs, Math.floor(deadline - performance.now()));
  // A shared token request may have been started by a subscription with a longer timeout.
  const outOfTime = (when: string): R =>
    failed({
      kind: 'failure',
      failure: AttemptFailure.Timeout,
      message: `no time left ${when} (an oauth2 attempt may take ${2 * timeoutMs} ms)`,
    });
  let token: string;
  try {
    token = await tokens.token(creds, timeoutMs);
  } catch (err) {
    return failed(failureOf(err));
  }
  if (left() <= 0) return outOfTime('to send after waiting for the oauth2 token');
  const first = await send(`Bearer ${token}`, left());
  if (!isUnauthorized(first)) return first;
  let fresh: string;
  try {
    fresh = await tokens.refresh(creds, token, Math.max(1, left()));
  } catch (err) {
    return failed(failureOf(err));
  }
  if (left() <= 0) return outOfTime('to retry with a fresh oauth2 token after the sink’s 401');
  return send(`Bearer ${fresh}`, left());
}

function isUnauthorized(result: { kind: string; status?: unknown }): boolean {
  return result.kind === 'response' && result.status === 401;
}

function failureOf(err: unknown): OAuth2Failure {
  if (err instanceof OAuth2TokenError) {
    return { kind: 'failure', failure: err.failure, message: err.message };
  }
  const name = err instanceof Error ? err.name : typeof err;
  return {
    kind: 'failure',
    failure: AttemptFailure.Internal,
    message: `oauth2 token request failed (${name})`,
  };
}

/**
 * Turns a CompiledSubscription into what the consume loop runs: a compiled filter predicate,
 * a DeliveryTarget with unsealed secrets, and the retry policy. Done once per config change,
 * never per event. A subscription this version cannot honour (e.g. a filter dialect it does
 * not know) is refused rather than delivered half-right: its events wait in the consumer. The validation handshake and
 * the rate limit are applied around each attempt (handshake.ts, rate-limit.ts).
 * Filters, CESQL included, are compiled here by core/filters, which the operator already ran.
 */
import type { CompiledOAuth2, CompiledSubscription } from '../core/config/model.js';
import { unsealSecret } from '../core/config/seal.js';
import { isHeraldError } from '../core/errors.js';
import { readAssertionKey, type AssertionKey } from '../core/oauth2-client-assertion.js';
import { OAUTH2_RESERVED_PARAMETERS } from '../core/resources/cel-rules.js';
import { compileFilters, FilterErrorCode, isFilterError } from '../core/filters/index.js';
import type { FilterPredicate } from '../core/filters/index.js';
import { decodeSigningSecret } from '../core/signing.js';
import { DeliveryTarget } from './deliver.js';
import { OAuth2Credentials } from './oauth2.js';
import type { RetryPolicy } from './retry.js';

/** Why a subscription is not started: the `code` of SubscriptionNotDeliverableError, as logged. */
export const NotDeliverableReason = {
  InvalidFilter: 'invalid_filter',
  /** Asks for something a later version implements (e.g. a filter dialect). */
  UnsupportedFeature: 'unsupported_feature',
  InvalidSink: 'invalid_sink',
  /** A sealed secret does not unseal with this dispatcher's config key. */
  SecretUnavailable: 'secret_unavailable',
  /** A signing secret that is not a Standard Webhooks secret, or an unusable oauth2 key. */
  InvalidSecret: 'invalid_secret',
} as const;
export type NotDeliverableReason = (typeof NotDeliverableReason)[keyof typeof NotDeliverableReason];

/** Typed like the other Herald errors: callers branch on `code`; `message` names no secret. */
export class SubscriptionNotDeliverableError extends Error {
  readonly code: NotDeliverableReason;
  constructor(code: NotDeliverableReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SubscriptionNotDeliverableError';
    this.code = code;
  }
}

export interface PreparedSubscription {
  /** `<namespace>/<name>` */
  id: string;
  namespace: string;
  name: string;
  config: CompiledSubscription;
  matches: FilterPredicate;
  target: DeliveryTarget;
  retry: RetryPolicy;
  /** Deliveries in flight at once per consumer: maxInFlight, or 1 when ordered. */
  concurrency: number;
  /** Settings this version accepts but does not act on yet; logged when the loop starts. */
  notEnforced: string[];
}

/** Headers Herald sets itself; a sink auth header may not replace them. */
const RESERVED_HEADER = /^(ce-|webhook-)|^(content-type|content-length|host|user-agent)$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function prepareSubscription(
  sub: CompiledSubscription,
  configKey: Buffer,
  userAgent: string,
): PreparedSubscription {
  const matches = compileSubscriptionFilters(sub);
  const url = parseSinkUrl(sub.sink.uri);
  const headers: Record<string, string> = { 'user-agent': userAgent };
  const auth = sub.sink.auth;
  const oauth2 = auth?.oauth2 && prepareOAuth2(auth.oauth2, configKey, userAgent);
  if (auth?.apiKey) {
    const name = auth.apiKey.header.toLowerCase();
    if (!HEADER_NAME.test(name) || RESERVED_HEADER.test(name)) {
      throw new SubscriptionNotDeliverableError(
        NotDeliverableReason.InvalidSink,
        `sink.auth.apiKey.header "${auth.apiKey.header}" is not a usable header name`,
      );
    }
    headers[name] = unsealHeaderValue(configKey, auth.apiKey.value, 'sink.auth.apiKey');
  }
  if (auth?.bearer) {
    const token = unsealHeaderValue(configKey, auth.bearer.token, 'sink.auth.bearer');
    headers.authorization = `Bearer ${token}`;
  }
  const signingSecrets = sub.delivery.signingSecrets.map((s) => {
    const secret = unsealOrRefuse(configKey, s, 'delivery.signing');
    try {
      decodeSigningSecret(secret); // refused here rather than on every delivery
    } catch (cause) {
      throw new SubscriptionNotDeliverableError(
        NotDeliverableReason.InvalidSecret,
        'delivery.signing: the secret is not a Standard Webhooks secret (whsec_ + base64)',
        { cause },
      );
    }
    return secret;
  });
  const notEnforced: string[] = [];
  return {
    id: `${sub.namespace}/${sub.name}`,
    namespace: sub.namespace,
    name: sub.name,
    config: sub,
    matches,
    target: new DeliveryTarget({
      url,
      mode: sub.delivery.mode === 'structured' ? 'structured' : 'binary',
      timeoutMs: sub.delivery.timeoutMs,
      headers,
      signingSecrets,
      ...(oauth2 && { oauth2 }),
    }),
    retry: { ...sub.delivery.retry, maxAttempts: Math.max(1, sub.delivery.retry.maxAttempts) },
    concurrency:
      sub.delivery.ordering === 'ordered' ? 1 : Math.max(1, Math.floor(sub.delivery.maxInFlight)),
    notEnforced,
  };
}

function compileSubscriptionFilters(sub: CompiledSubscription): FilterPredicate {
  try {
    return compileFilters(sub.filters ?? []);
  } catch (err) {
    if (!isFilterError(err)) throw err;
    throw new SubscriptionNotDeliverableError(
      err.code === FilterErrorCode.UnsupportedDialect
        ? NotDeliverableReason.UnsupportedFeature
        : NotDeliverableReason.InvalidFilter,
      err.message,
      { cause: err },
    );
  }
}

function parseSinkUrl(uri: string, field = 'sink.uri'): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (cause) {
    throw new SubscriptionNotDeliverableError(
      NotDeliverableReason.InvalidSink,
      `${field} is not a URL`,
      { cause },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SubscriptionNotDeliverableError(
      NotDeliverableReason.InvalidSink,
      `${field} must be http or https, not ${url.protocol}`,
    );
  }
  // Credentials in a URL end up in logs and error messages; sink.auth is the place for them.
  if (url.username || url.password) {
    throw new SubscriptionNotDeliverableError(
      NotDeliverableReason.InvalidSink,
      `${field} must not carry credentials; use sink.auth`,
    );
  }
  return url;
}

/**
 * sink.auth.oauth2 with its client secret unsealed, or its private key unsealed and parsed;
 * tokens are fetched per attempt (oauth2.ts). The operator checked all this already.
 */
function prepareOAuth2(
  oauth2: CompiledOAuth2,
  configKey: Buffer,
  userAgent: string,
): OAuth2Credentials {
  const field = 'sink.auth.oauth2';
  const refuse = (why: string) =>
    new SubscriptionNotDeliverableError(NotDeliverableReason.InvalidSink, `${field}${why}`);
  const tokenUrl = parseSinkUrl(oauth2.tokenUrl, `${field}.tokenUrl`);
  if (!oauth2.clientId) throw refuse('.clientId is empty');
  const parameters = oauth2.parameters ?? {};
  const reserved = Object.keys(parameters).filter((name) =>
    (OAUTH2_RESERVED_PARAMETERS as readonly string[]).includes(name),
  );
  if (reserved.length > 0) throw refuse(`.parameters must not set ${reserved.join(', ')}`);
  const common = {
    tokenUrl,
    clientId: oauth2.clientId,
    scopes: oauth2.scopes,
    userAgent,
    parameters,
  };
  const method = oauth2.clientAuthentication ?? 'basic';
  if (method === 'basic' || method === 'post') {
    if (!oauth2.clientSecret)
      throw refuse(`: clientAuthentication ${method} without a client secret`);
    const clientSecret = unsealOrRefuse(configKey, oauth2.clientSecret, field);
    return new OAuth2Credentials({ ...common, clientAuthentication: method, clientSecret });
  }
  if (method !== 'privateKeyJwt') {
    throw new SubscriptionNotDeliverableError(
      NotDeliverableReason.UnsupportedFeature,
      `${field}.clientAuthentication "${String(method)}" is not supported by this version`,
    );
  }
  const spec = oauth2.privateKey;
  if (!spec) throw refuse(': clientAuthentication privateKeyJwt without a private key');
  const pem = unsealOrRefuse(configKey, spec.key, `${field}.privateKey`);
  let key: AssertionKey;
  try {
    key = readAssertionKey(pem, spec.algorithm);
  } catch (cause) {
    const why = isHeraldError(cause) ? cause.message : 'unusable';
    throw new SubscriptionNotDeliverableError(
      NotDeliverableReason.InvalidSecret,
      `${field}.privateKey: ${why}`,
      { cause },
    );
  }
  return new OAuth2Credentials({
    ...common,
    clientAuthentication: 'privateKeyJwt',
    privateKey: {
      key,
      ...(spec.keyId !== undefined && { keyId: spec.keyId }),
      ...(spec.x5t && spec.x5tS256 && { thumbprints: { x5t: spec.x5t, x5tS256: spec.x5tS256 } }),
      ...(spec.audience !== undefined && { audience: spec.audience }),
    },
  });
}

function unsealOrRefuse(configKey: Buffer, sealed: string, field: string): string {
  try {
    return unsealSecret(configKey, sealed);
  } catch (cause) {
    throw new SubscriptionNotDeliverableError(
      NotDeliverableReason.SecretUnavailable,
      `${field}: the secret cannot be unsealed with this dispatcher's config key`,
      { cause },
    );
  }
}

function unsealHeaderValue(configKey: Buffer, sealed: string, field: string): string {
  const value = unsealOrRefuse(configKey, sealed, field);
  // A control character would break (or smuggle) headers; say so without echoing the value.
  if ([...value].some((ch) => ch.charCodeAt(0) < 0x20 || ch.charCodeAt(0) === 0x7f)) {
    throw new SubscriptionNotDeliverableError(
      NotDeliverableReason.InvalidSink,
      `${field}: the secret contains control characters and cannot be sent in a header`,
    );
  }
  return value;
}

/**
 * What a producer presents to authenticate, read from HTTP headers or gRPC metadata alike
 * (both are lower-case name → text). The transport reads credentials with `readCredentials`;
 * the ProducerAuthenticator checks them. Nothing here validates a secret.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { WebhookHeader } from '../../core/signing.js';

/** Header (HTTP) or metadata key (gRPC) names, lower-case. */
export const CredentialHeader = {
  Authorization: 'authorization',
  ApiKey: 'x-api-key',
  /** Names the producer of an HMAC-signed request: `<namespace>/<name>`. */
  Producer: 'herald-producer',
  WebhookId: WebhookHeader.Id,
  WebhookTimestamp: WebhookHeader.Timestamp,
  WebhookSignature: WebhookHeader.Signature,
} as const;

export const CredentialKind = {
  None: 'none',
  ApiKey: 'api-key',
  Hmac: 'hmac',
  Jwt: 'jwt',
} as const;
export type CredentialKind = (typeof CredentialKind)[keyof typeof CredentialKind];

/** Why a request carries no usable credentials. */
export const MissingCredentials = {
  /** Nothing at all. */
  Absent: 'absent',
  /** Only an `Authorization` with a scheme other than Bearer. */
  UnsupportedScheme: 'unsupported_scheme',
  /** More than one method (e.g. a bearer token and a signature): refused, never guessed. */
  Conflicting: 'conflicting_credentials',
} as const;
export type MissingCredentials = (typeof MissingCredentials)[keyof typeof MissingCredentials];

export type ProducerCredentials =
  | { kind: typeof CredentialKind.None; missing: MissingCredentials }
  | { kind: typeof CredentialKind.ApiKey; apiKey: string }
  | {
      kind: typeof CredentialKind.Hmac;
      /** `<namespace>/<name>` from Herald-Producer. */
      producer: string | undefined;
      webhookId: string | undefined;
      timestamp: string | undefined;
      signature: string;
    }
  | { kind: typeof CredentialKind.Jwt; token: string };

/** Reads one header / metadata value by lower-case name; undefined when absent. */
export type CredentialSource = (name: string) => string | undefined;

const BEARER = /^bearer(?:[ \t]+|$)/i;
/** Three base64url segments; the signature may be empty (`alg: none`, refused later). */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/**
 * The credentials of a request, from any transport. Exactly one method is accepted: a
 * `webhook-signature` means HMAC; otherwise `Authorization: Bearer` (a JWT when it has a
 * JWT's shape, else an API key) or `X-API-Key`. Two methods at once are `Conflicting`.
 */
export function readCredentials(get: CredentialSource): ProducerCredentials {
  const authorization = nonEmpty(get(CredentialHeader.Authorization));
  const apiKeyHeader = nonEmpty(get(CredentialHeader.ApiKey));
  const signature = nonEmpty(get(CredentialHeader.WebhookSignature));
  // Another scheme (e.g. Basic for a proxy in front) is not Herald's: ignored, unless it is
  // all there is.
  const isBearer = authorization !== undefined && BEARER.test(authorization);
  const bearer = isBearer ? nonEmpty(authorization.replace(BEARER, '')) : undefined;
  const offered = Number(bearer !== undefined) + Number(apiKeyHeader !== undefined);
  if (signature !== undefined) {
    if (offered > 0) return { kind: CredentialKind.None, missing: MissingCredentials.Conflicting };
    return {
      kind: CredentialKind.Hmac,
      producer: nonEmpty(get(CredentialHeader.Producer)),
      webhookId: nonEmpty(get(CredentialHeader.WebhookId)),
      timestamp: nonEmpty(get(CredentialHeader.WebhookTimestamp)),
      signature,
    };
  }
  if (offered > 1) return { kind: CredentialKind.None, missing: MissingCredentials.Conflicting };
  if (bearer !== undefined) {
    return isJwtShaped(bearer)
      ? { kind: CredentialKind.Jwt, token: bearer }
      : { kind: CredentialKind.ApiKey, apiKey: bearer };
  }
  if (apiKeyHeader !== undefined) return { kind: CredentialKind.ApiKey, apiKey: apiKeyHeader };
  const missing =
    authorization !== undefined && !isBearer
      ? MissingCredentials.UnsupportedScheme
      : MissingCredentials.Absent;
  return { kind: CredentialKind.None, missing };
}

/** readCredentials over node:http headers (repeated headers count as one value). */
export function readHttpCredentials(headers: IncomingHttpHeaders): ProducerCredentials {
  return readCredentials((name) => {
    const value = headers[name];
    return Array.isArray(value) ? value[0] : value;
  });
}

/**
 * A JWT's shape: three base64url segments whose first decodes to a JSON object with an
 * `alg`. The header check keeps an API key that happens to contain two dots an API key.
 */
export function isJwtShaped(token: string): boolean {
  if (!JWT_SHAPE.test(token)) return false;
  const header = token.slice(0, token.indexOf('.'));
  try {
    const parsed: unknown = JSON.parse(Buffer.from(header, 'base64url').toString('utf8'));
    return (
      typeof parsed === 'object' &&
      parsed !== null &&
      typeof (parsed as { alg?: unknown }).alg === 'string'
    );
  } catch {
    return false;
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  const trimmed = value?.trim();
  return trimmed === '' ? undefined : trimmed;
}

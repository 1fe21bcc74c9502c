/**
 * The refusals of producer authentication: a stable `code` per failure (a problem extension
 * clients may branch on, next to the problem `type`), a detail for people, and a reason for
 * the log line. None of them ever carries a key, token, signature or secret.
 */
import { ProblemError, ProblemKind, RETRY_AFTER_SECONDS } from '../problems.js';

export const AuthFailure = {
  // No usable credentials (401 unauthorized).
  Absent: 'absent',
  UnsupportedScheme: 'unsupported_scheme',
  ConflictingCredentials: 'conflicting_credentials',
  // API keys (401 unauthorized).
  UnknownApiKey: 'unknown_api_key',
  // HMAC signatures (401 invalid-signature, replayed-request).
  MissingProducer: 'missing_producer',
  MissingHeaders: 'missing_headers',
  InvalidWebhookId: 'invalid_webhook_id',
  InvalidTimestamp: 'invalid_timestamp',
  TimestampOutOfTolerance: 'timestamp_out_of_tolerance',
  NoMatchingSignature: 'no_matching_signature',
  Replayed: 'replayed',
  // JWTs (401 invalid-token).
  Malformed: 'malformed',
  AlgorithmNotAllowed: 'algorithm_not_allowed',
  NoMatchingProducer: 'no_matching_producer',
  AmbiguousProducer: 'ambiguous_producer',
  TokenExpired: 'token_expired',
  TokenNotYetValid: 'token_not_yet_valid',
  ClaimInvalid: 'claim_invalid',
  UnknownKey: 'unknown_key',
  SignatureInvalid: 'signature_invalid',
  // The broker cannot check (503 auth-unavailable, or 500).
  JwksUnavailable: 'jwks_unavailable',
  ReplayGuardUnavailable: 'replay_guard_unavailable',
  SecretUnavailable: 'secret_unavailable',
} as const;
export type AuthFailure = (typeof AuthFailure)[keyof typeof AuthFailure];

/** The challenge of every 401 (RFC 9110 §11.6.1); bearer failures add RFC 6750's error. */
const CHALLENGE = 'Bearer realm="herald"';
const INVALID_TOKEN_CHALLENGE = 'Bearer realm="herald", error="invalid_token"';

function refuse(
  kind: ProblemKind,
  code: AuthFailure,
  detail: string,
  reason: string,
  challenge = CHALLENGE,
  extensions: Record<string, unknown> = {},
): ProblemError {
  return new ProblemError(kind, detail, {
    extensions: { code, ...extensions },
    headers: { 'www-authenticate': challenge },
    reason,
  });
}

/** 401 unauthorized: nothing usable, or an unknown API key. */
export function refuseUnauthorized(code: AuthFailure, detail: string, reason: string) {
  const challenge = code === AuthFailure.UnknownApiKey ? INVALID_TOKEN_CHALLENGE : CHALLENGE;
  return refuse(ProblemKind.Unauthorized, code, detail, reason, challenge);
}

/** 401 invalid-signature. */
export function refuseSignature(code: AuthFailure, detail: string, reason: string) {
  return refuse(ProblemKind.InvalidSignature, code, detail, `hmac: ${reason}`);
}

/** 401 replayed-request: this `webhook-id` was already used within the tolerance. */
export function refuseReplay(producerId: string): ProblemError {
  return refuse(
    ProblemKind.ReplayedRequest,
    AuthFailure.Replayed,
    'This webhook-id was already used: every signed request needs a new webhook-id (retrying events is safe: they are deduplicated by source and id).',
    `hmac: webhook-id replayed (producer ${producerId})`,
  );
}

/** 401 invalid-token, with the claim at fault when there is one. */
export function refuseToken(
  code: AuthFailure,
  detail: string,
  reason: string,
  claim?: string,
): ProblemError {
  const extensions = claim === undefined ? {} : { claim };
  return refuse(
    ProblemKind.InvalidToken,
    code,
    detail,
    `jwt: ${reason}`,
    INVALID_TOKEN_CHALLENGE,
    extensions,
  );
}

/** 503 auth-unavailable: the broker cannot check credentials now; nothing was accepted. */
export function refuseUnavailable(
  code: AuthFailure,
  detail: string,
  reason: string,
  cause?: unknown,
) {
  return new ProblemError(ProblemKind.AuthUnavailable, `${detail} Retry later.`, {
    extensions: { code },
    headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
    reason,
    cause,
  });
}

/** 500: the broker's own setup is wrong (e.g. its config key cannot unseal a secret). */
export function refuseMisconfigured(code: AuthFailure, detail: string, reason: string) {
  return new ProblemError(ProblemKind.InternalError, detail, { extensions: { code }, reason });
}

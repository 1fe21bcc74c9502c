/**
 * The states of the webhook validation handshake (handshake.ts) and what a sink's answer to
 * the validation request means ("HTTP 1.1 Web Hooks for Event Delivery" §4.2): consent is a
 * 2xx naming the dispatcher's origin (or `*`) in `WebHook-Allowed-Origin`, optionally with a
 * `WebHook-Allowed-Rate`. No I/O: handshake.ts sends the requests and keeps the states.
 */
import type { ValidationResult } from './deliver.js';
import { AttemptFailure } from './retry.js';

export const HandshakeHeader = {
  RequestOrigin: 'webhook-request-origin',
  RequestRate: 'webhook-request-rate',
  AllowedOrigin: 'webhook-allowed-origin',
  AllowedRate: 'webhook-allowed-rate',
} as const;

export const VerificationStatus = {
  Verified: 'verified',
  /** Not answered yet, or no usable answer (network, timeout, 5xx): asked again later. */
  Pending: 'pending',
  /** The sink answered without consent: asked again later. */
  Refused: 'refused',
} as const;
export type VerificationStatus = (typeof VerificationStatus)[keyof typeof VerificationStatus];

/** Why, in a form fit for a Kubernetes condition's `reason` (the SinkVerified condition). */
export const VerificationReason = {
  Verified: 'Verified',
  Verifying: 'Verifying',
  SinkUnreachable: 'SinkUnreachable',
  ForbiddenAddress: 'ForbiddenAddress',
  SinkError: 'SinkError',
  NoConsent: 'NoConsent',
  OriginNotAllowed: 'OriginNotAllowed',
  InvalidAllowedRate: 'InvalidAllowedRate',
  /** sink.auth.oauth2: no token to send the validation request with. */
  TokenUnavailable: 'TokenUnavailable',
} as const;
export type VerificationReason = (typeof VerificationReason)[keyof typeof VerificationReason];

export interface VerificationState {
  status: VerificationStatus;
  reason: VerificationReason;
  /** One line for people; names the sink by origin only (paths often carry tokens). */
  message: string;
  /** scheme://host:port of the sink this state is about. */
  sinkOrigin: string;
  /** The rate the sink granted, requests per minute; absent when it granted `*` or none. */
  allowedRatePerMinute?: number;
  /** When this state began, ms since the epoch. */
  since: number;
}

/** What a validation answer means (spec §4.2): consent is a 2xx with the allowed origin. */
export function judgeAnswer(
  result: ValidationResult,
  origin: string,
  sinkOrigin: string,
): VerificationState {
  const since = Date.now();
  const state = (
    status: VerificationStatus,
    reason: VerificationReason,
    message: string,
  ): VerificationState => ({ status, reason, message, sinkOrigin, since });
  if (result.kind === 'token-failure') {
    // Not the sink's answer: asked again later, as deliveries retry a token failure. A token
    // endpoint the SSRF guard refuses stays refused, like a refused sink.
    const forbidden = result.failure === AttemptFailure.ForbiddenAddress;
    return state(
      VerificationStatus.Pending,
      forbidden ? VerificationReason.ForbiddenAddress : VerificationReason.TokenUnavailable,
      `validation request to ${sinkOrigin} not sent: ${result.message}`,
    );
  }
  if (result.kind === 'failure') {
    const forbidden = result.failure === AttemptFailure.ForbiddenAddress;
    return state(
      VerificationStatus.Pending,
      forbidden ? VerificationReason.ForbiddenAddress : VerificationReason.SinkUnreachable,
      `validation request to ${sinkOrigin} failed: ${result.message}`,
    );
  }
  const { status, headers } = result;
  if (status < 200 || status > 299) {
    const retryable = status === 429 || status >= 500;
    return state(
      retryable ? VerificationStatus.Pending : VerificationStatus.Refused,
      retryable ? VerificationReason.SinkError : VerificationReason.NoConsent,
      `${sinkOrigin} answered the validation request with HTTP ${status}`,
    );
  }
  const allowed = headers[HandshakeHeader.AllowedOrigin];
  if (allowed === undefined) {
    return state(
      VerificationStatus.Refused,
      VerificationReason.NoConsent,
      `${sinkOrigin} answered HTTP ${status} without WebHook-Allowed-Origin: no consent`,
    );
  }
  const allowedOrigin = (Array.isArray(allowed) ? allowed.join(',') : allowed).trim().toLowerCase();
  if (allowedOrigin !== origin && allowedOrigin !== '*') {
    return state(
      VerificationStatus.Refused,
      VerificationReason.OriginNotAllowed,
      `${sinkOrigin} allows another origin than "${origin}" (WebHook-Allowed-Origin)`,
    );
  }
  const rate = parseAllowedRate(headers[HandshakeHeader.AllowedRate]);
  if (rate === 'invalid') {
    return state(
      VerificationStatus.Refused,
      VerificationReason.InvalidAllowedRate,
      `${sinkOrigin} sent a WebHook-Allowed-Rate that is neither a positive integer nor "*"`,
    );
  }
  const verified = state(
    VerificationStatus.Verified,
    VerificationReason.Verified,
    `${sinkOrigin} consented to deliveries from "${origin}"`,
  );
  if (rate !== undefined) verified.allowedRatePerMinute = rate;
  return verified;
}

/** Requests per minute; undefined for `*` or no header (no cap granted). */
export function parseAllowedRate(
  value: string | string[] | undefined,
): number | undefined | 'invalid' {
  if (value === undefined) return undefined;
  if (Array.isArray(value)) return 'invalid';
  const v = value.trim();
  if (v === '*') return undefined;
  if (!/^[1-9][0-9]{0,9}$/.test(v)) return 'invalid';
  return Number(v);
}

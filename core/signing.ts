/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * "<webhook-id>.<webhook-timestamp>.<body>", keyed by the base64 part of a `whsec_…` secret,
 * sent as `v1,<base64>`; several space-separated during secret rotation.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ErrorCode, HeraldError } from './errors.js';

export const WebhookHeader = {
  Id: 'webhook-id',
  Timestamp: 'webhook-timestamp',
  Signature: 'webhook-signature',
} as const;

export const SIGNING_SECRET_PREFIX = 'whsec_';
/** What docs/resources.md promises for a signing secret: `whsec_` + base64 of 24–64 bytes. */
export const SIGNING_SECRET_MIN_BYTES = 24;
export const SIGNING_SECRET_MAX_BYTES = 64;
/** The spec's default tolerance for timestamps, either side of now. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

/** RFC 4648 §4 base64: standard alphabet, padding required, no whitespace. */
const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The HMAC key bytes of a secret. Like the standardwebhooks reference library, an optional
 * `whsec_` prefix is dropped and the rest is base64-decoded — with or without the prefix. The
 * decoding is strict: standard alphabet, padding, and the canonical form (the bytes must
 * encode back to the same text), so a mangled secret is refused rather than silently signing
 * with other bytes than the receiver holds. Throws HeraldError ERR_INVALID_SIGNING_SECRET,
 * whose message never contains the secret.
 */
export function decodeSigningSecret(secret: string): Buffer {
  const encoded = secret.startsWith(SIGNING_SECRET_PREFIX)
    ? secret.slice(SIGNING_SECRET_PREFIX.length)
    : secret;
  if (encoded.length === 0) {
    throw new HeraldError(ErrorCode.InvalidSigningSecret, 'the signing secret is empty');
  }
  const key = STRICT_BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
  if (!key || key.toString('base64') !== encoded) {
    throw new HeraldError(
      ErrorCode.InvalidSigningSecret,
      'the signing secret is not valid base64 (standard alphabet, padded, canonical)',
    );
  }
  return key;
}

/**
 * Checks a secret against what Herald's resources accept: `whsec_` + strict base64 of 24–64
 * bytes. Throws HeraldError ERR_INVALID_SIGNING_SECRET saying what is wrong, never the value.
 */
export function checkSigningSecret(secret: string): void {
  if (!secret.startsWith(SIGNING_SECRET_PREFIX)) {
    throw new HeraldError(
      ErrorCode.InvalidSigningSecret,
      `a signing secret must start with "${SIGNING_SECRET_PREFIX}"`,
    );
  }
  const key = decodeSigningSecret(secret);
  if (key.length < SIGNING_SECRET_MIN_BYTES || key.length > SIGNING_SECRET_MAX_BYTES) {
    throw new HeraldError(
      ErrorCode.InvalidSigningSecret,
      `a signing secret must decode to ${SIGNING_SECRET_MIN_BYTES}–${SIGNING_SECRET_MAX_BYTES} bytes, not ${key.length}`,
    );
  }
}

function computeSignature(
  key: Buffer,
  id: string,
  timestamp: string,
  body: Uint8Array | string,
): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

/**
 * The `webhook-signature` header value: one `v1,<sig>` per secret, space-separated. Throws
 * ERR_INVALID_SIGNING_SECRET for a secret that does not decode.
 */
export function signWebhook(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: Uint8Array | string,
): string {
  const ts = String(timestampSeconds);
  return secrets
    .map((s) => `v1,${computeSignature(decodeSigningSecret(s), id, ts, body).toString('base64')}`)
    .join(' ');
}

export const VerifyFailure = {
  MissingHeaders: 'missing_headers',
  InvalidTimestamp: 'invalid_timestamp',
  TimestampOutOfTolerance: 'timestamp_out_of_tolerance',
  NoMatchingSignature: 'no_matching_signature',
} as const;
export type VerifyFailure = (typeof VerifyFailure)[keyof typeof VerifyFailure];

export type VerifyResult = { ok: true } | { ok: false; reason: VerifyFailure };

/**
 * Verifies a request signed in the Standard Webhooks scheme against any of `secrets`.
 * Comparison is constant-time per candidate signature. A secret that does not decode (see
 * decodeSigningSecret) matches nothing: the request fails as NoMatchingSignature rather than
 * throwing on the hot path (the operator refuses such secrets before they get here).
 */
export function verifyWebhook(
  secrets: readonly string[],
  headers: { id?: string; timestamp?: string; signature?: string },
  body: Uint8Array | string,
  options: { nowSeconds?: number; toleranceSeconds?: number } = {},
): VerifyResult {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return { ok: false, reason: VerifyFailure.MissingHeaders };
  if (!/^\d+$/.test(timestamp)) return { ok: false, reason: VerifyFailure.InvalidTimestamp };
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS;
  if (Math.abs(now - Number(timestamp)) > tolerance) {
    return { ok: false, reason: VerifyFailure.TimestampOutOfTolerance };
  }
  const offered = signature
    .split(' ')
    .filter((s) => s.startsWith('v1,'))
    .map((s) => Buffer.from(s.slice(3), 'base64'));
  for (const secret of secrets) {
    let key: Buffer;
    try {
      key = decodeSigningSecret(secret);
    } catch {
      continue;
    }
    const expected = computeSignature(key, id, timestamp, body);
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
        return { ok: true };
      }
    }
  }
  return { ok: false, reason: VerifyFailure.NoMatchingSignature };
}

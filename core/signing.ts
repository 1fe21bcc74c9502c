/**
 * Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
 * "<webhook-id>.<webhook-timestamp>.<body>", keyed by the base64 part of a `whsec_…` secret,
 * sent as `v1,<base64>`; several space-separated during secret rotation.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const WebhookHeader = {
  Id: 'webhook-id',
  Timestamp: 'webhook-timestamp',
  Signature: 'webhook-signature',
} as const;

const SECRET_PREFIX = 'whsec_';
/** The spec's default tolerance for timestamps, either side of now. */
export const DEFAULT_TOLERANCE_SECONDS = 5 * 60;

/** The HMAC key bytes of a secret: `whsec_<base64>` decodes; anything else is used as UTF-8. */
export function decodeSigningSecret(secret: string): Buffer {
  return secret.startsWith(SECRET_PREFIX)
    ? Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

function computeSignature(
  key: Buffer,
  id: string,
  timestamp: string,
  body: Uint8Array | string,
): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`).update(body).digest();
}

/** The `webhook-signature` header value: one `v1,<sig>` per secret, space-separated. */
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
 * Comparison is constant-time per candidate signature.
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
    const expected = computeSignature(decodeSigningSecret(secret), id, timestamp, body);
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) {
        return { ok: true };
      }
    }
  }
  return { ok: false, reason: VerifyFailure.NoMatchingSignature };
}

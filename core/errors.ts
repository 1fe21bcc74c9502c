/**
 * Typed errors with stable codes, in the style of nats.js: callers branch on `code`,
 * humans read `message`, and the original failure rides along as `cause`.
 */
export const ErrorCode = {
  InvalidDuration: 'ERR_INVALID_DURATION',
  InvalidQuantity: 'ERR_INVALID_QUANTITY',
  InvalidResource: 'ERR_INVALID_RESOURCE',
  SecretMissing: 'ERR_SECRET_MISSING',
  SealFailed: 'ERR_SEAL_FAILED',
  ConfigCorrupt: 'ERR_CONFIG_CORRUPT',
  NatsServerMissing: 'ERR_NATS_SERVER_MISSING',
  NatsServerStart: 'ERR_NATS_SERVER_START',
  InvalidCloudEvent: 'ERR_INVALID_CLOUDEVENT',
  UnsupportedMediaType: 'ERR_UNSUPPORTED_MEDIA_TYPE',
  Usage: 'ERR_USAGE',
  /** A Standard Webhooks secret that is not `whsec_` + strict base64 (or not base64 at all). */
  InvalidSigningSecret: 'ERR_INVALID_SIGNING_SECRET',
  /** applyNow() on an operator that was stopped. */
  OperatorStopped: 'ERR_OPERATOR_STOPPED',
  /** A consumer's message iterator ended without being asked to (the loop reconnects). */
  ConsumeInterrupted: 'ERR_CONSUME_INTERRUPTED',
  /** A NATS credentials or TLS file that cannot be used (unreadable, malformed, cert without key). */
  InvalidNatsAuth: 'ERR_INVALID_NATS_AUTH',
  /** A sink.auth.oauth2 private key or certificate that cannot sign client assertions. */
  InvalidOAuth2Key: 'ERR_INVALID_OAUTH2_KEY',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class HeraldError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HeraldError';
    this.code = code;
  }
}

export function isHeraldError(err: unknown, code?: ErrorCode): err is HeraldError {
  return err instanceof HeraldError && (code === undefined || err.code === code);
}

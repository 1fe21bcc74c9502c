/**
 * RFC 9457 problem details for every broker error. Each kind has a stable `type` URI that
 * clients may branch on; `title` is fixed per kind, `detail` says what exactly went wrong.
 * docs/http-api.md lists them all with examples.
 */
import { CodecErrorCode, MediaType, type CodecError } from '../core/cloudevents/types.js';

const PROBLEM_BASE = 'https://herald.dev/problems/';

/** Every kind of problem the broker answers with: status, type URI, title, metrics outcome. */
export const ProblemKind = {
  InvalidCloudEvent: {
    status: 400,
    slug: 'invalid-cloudevent',
    title: 'Not a valid CloudEvent',
    outcome: 'invalid',
  },
  Unauthorized: {
    status: 401,
    slug: 'unauthorized',
    title: 'Missing or invalid credentials',
    outcome: 'unauthorized',
  },
  // Producer authentication (broker/auth/, docs/producer-auth.md).
  InvalidSignature: {
    status: 401,
    slug: 'invalid-signature',
    title: 'Missing or invalid request signature',
    outcome: 'unauthorized',
  },
  ReplayedRequest: {
    status: 401,
    slug: 'replayed-request',
    title: 'Signed request already received',
    outcome: 'replayed',
  },
  InvalidToken: {
    status: 401,
    slug: 'invalid-token',
    title: 'Invalid bearer token',
    outcome: 'unauthorized',
  },
  AuthUnavailable: {
    status: 503,
    slug: 'auth-unavailable',
    title: 'Credentials cannot be checked right now',
    outcome: 'auth_unavailable',
  },
  ForbiddenType: {
    status: 403,
    slug: 'forbidden-type',
    title: 'Event type not allowed for this producer',
    outcome: 'forbidden',
  },
  ForbiddenSource: {
    status: 403,
    slug: 'forbidden-source',
    title: 'Event source not allowed for this producer',
    outcome: 'forbidden',
  },
  NotFound: { status: 404, slug: 'not-found', title: 'Not found', outcome: 'not_found' },
  MethodNotAllowed: {
    status: 405,
    slug: 'method-not-allowed',
    title: 'Method not allowed',
    outcome: 'method_not_allowed',
  },
  RequestTimeout: {
    status: 408,
    slug: 'request-timeout',
    title: 'Request not received in time',
    outcome: 'timeout',
  },
  PayloadTooLarge: {
    status: 413,
    slug: 'payload-too-large',
    title: 'Request body too large',
    outcome: 'too_large',
  },
  BatchTooLarge: {
    status: 413,
    slug: 'batch-too-large',
    title: 'Batch has more events than allowed',
    outcome: 'too_large',
  },
  UnsupportedMediaType: {
    status: 415,
    slug: 'unsupported-media-type',
    title: 'Unsupported media type',
    outcome: 'unsupported_media_type',
  },
  UnknownEventType: {
    status: 422,
    slug: 'unknown-event-type',
    title: 'Unknown event type',
    outcome: 'unknown_type',
  },
  SchemaValidationFailed: {
    status: 422,
    slug: 'schema-validation-failed',
    title: 'Event data does not match its schema',
    outcome: 'schema_invalid',
  },
  RateLimited: {
    status: 429,
    slug: 'rate-limited',
    title: 'Rate limit exceeded',
    outcome: 'rate_limited',
  },
  HeaderFieldsTooLarge: {
    status: 431,
    slug: 'header-fields-too-large',
    title: 'Request header fields too large',
    outcome: 'headers_too_large',
  },
  BadRequest: {
    status: 400,
    slug: 'bad-request',
    title: 'Malformed HTTP request',
    outcome: 'bad_request',
  },
  InternalError: { status: 500, slug: 'internal-error', title: 'Internal error', outcome: 'error' },
  JetStreamUnavailable: {
    status: 503,
    slug: 'jetstream-unavailable',
    title: 'Event store unavailable',
    outcome: 'unavailable',
  },
  NotReady: { status: 503, slug: 'not-ready', title: 'Broker not ready', outcome: 'not_ready' },
} as const;
export type ProblemKind = (typeof ProblemKind)[keyof typeof ProblemKind];

/** The JSON body of an `application/problem+json` response. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Extension members (`errors`, `attribute`, `code`, `index`, …). */
  [extension: string]: unknown;
}

export function buildProblem(
  kind: ProblemKind,
  detail: string,
  extensions?: Record<string, unknown>,
): Problem {
  return {
    type: PROBLEM_BASE + kind.slug,
    title: kind.title,
    status: kind.status,
    detail,
    ...extensions,
  };
}

/**
 * A request the broker refuses. Thrown inside the ingest pipeline and turned into a response
 * by the transport. `reason` is what gets logged: never payloads or credentials.
 */
export class ProblemError extends Error {
  readonly problem: Problem;
  readonly kind: ProblemKind;
  /** Extra response headers (Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string> | undefined;
  readonly reason: string;
  constructor(
    kind: ProblemKind,
    detail: string,
    options: {
      extensions?: Record<string, unknown>;
      headers?: Record<string, string>;
      reason?: string;
      cause?: unknown;
    } = {},
  ) {
    super(detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ProblemError';
    this.kind = kind;
    this.problem = buildProblem(kind, detail, options.extensions);
    this.headers = options.headers;
    this.reason = options.reason ?? detail;
  }
}

/** Seconds a client should wait before retrying after a 503. */
export const RETRY_AFTER_SECONDS = 2;

/**
 * A codec failure as a problem. Every code is a 400 except an unsupported media type (415).
 * The codec's message is the detail (the client's own input, so it may be echoed) but only
 * the code and attribute are logged, since JSON parse messages quote the body.
 */
export function mapCodecError(err: CodecError): ProblemError {
  const kind =
    err.code === CodecErrorCode.UnsupportedMediaType
      ? ProblemKind.UnsupportedMediaType
      : ProblemKind.InvalidCloudEvent;
  const extensions: Record<string, unknown> = { code: err.code };
  if (err.attribute !== undefined) extensions.attribute = err.attribute;
  if (kind === ProblemKind.UnsupportedMediaType) {
    extensions.accepted = [
      MediaType.Structured,
      MediaType.Batch,
      MediaType.Protobuf,
      MediaType.ProtobufBatch,
      'any media type with ce-specversion and the other ce-* headers (binary mode)',
    ];
  }
  const reason =
    err.attribute === undefined ? `codec: ${err.code}` : `codec: ${err.code} (${err.attribute})`;
  return new ProblemError(kind, err.message, { extensions, reason, cause: err });
}

/** `application/problem+json` bytes for a response. */
export function serializeProblem(problem: Problem): string {
  return JSON.stringify(problem);
}

export const PROBLEM_CONTENT_TYPE = `${MediaType.Problem}; charset=utf-8`;

/** JetStream did not acknowledge: 503 with Retry-After. */
export function buildUnavailableProblem(
  why: string,
  cause?: unknown,
  logReason: string = why,
): ProblemError {
  return new ProblemError(
    ProblemKind.JetStreamUnavailable,
    `The event store did not acknowledge the event (${why}). Retry later with the same source and id: duplicates are recognised.`,
    {
      headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
      reason: logReason,
      cause,
    },
  );
}

/** Why a publish failed, in the client's terms. Never includes the payload. */
export function mapPublishError(err: unknown): ProblemError {
  const e = err instanceof Error ? err : new Error(String(err));
  switch (e.name) {
    case 'InvalidArgumentError':
      if (e.message.includes('max_payload')) {
        return new ProblemError(
          ProblemKind.PayloadTooLarge,
          'The event is larger than the event store accepts (NATS max_payload).',
          { reason: 'NATS max_payload exceeded', cause: e },
        );
      }
      break;
    case 'TimeoutError':
      return buildUnavailableProblem('timeout', e);
    case 'JetStreamNotEnabled':
    case 'NoResponders':
      return buildUnavailableProblem('no JetStream stream answered for the subject', e);
    case 'ClosedConnectionError':
    case 'DrainingConnectionError':
      return buildUnavailableProblem('NATS connection closed', e);
  }
  // Unknown failures can name internal subjects or permissions: those go to the log only.
  return buildUnavailableProblem('unexpected error', e, `${e.name}: ${e.message}`);
}

/**
 * Broker problems (problems.ts) as gRPC statuses. The code follows the HTTP status, so a
 * problem kind added later maps sensibly without a change here; docs/grpc.md has the table.
 * Every failed call carries, in trailing metadata:
 * - `grpc-status-details-bin`: a google.rpc.Status with ErrorInfo (reason = the problem slug
 *   in UPPER_SNAKE_CASE, domain herald.dev, metadata.type = the problem type URI), BadRequest
 *   (each schema violation or faulty attribute) and RetryInfo (when a retry may succeed);
 * - `herald-problem-bin`: the RFC 9457 problem JSON that HTTP would have answered;
 * - `retry-after`: seconds, as the HTTP header, when there is one.
 */
import { Metadata, status as GrpcCode, type StatusObject } from '@grpc/grpc-js';
import { encodeStatusDetails, type EventErrorMessage, type Violation } from './grpc-messages.js';
import type { Problem, ProblemError } from './problems.js';

export { GrpcCode };

const ERROR_DOMAIN = 'herald.dev';
/**
 * Trailers must fit every client's metadata limit (gRPC C-core's is 8 KiB by default), or the
 * client reports that instead of the status: the problem and the violations are capped.
 */
export const MAX_TRAILER_PROBLEM_BYTES = 4096;
export const MAX_TRAILER_VIOLATIONS = 32;
const MAX_DETAILS_LENGTH = 1024;
const MAX_TRAILER_VALUE_LENGTH = 256;

/** The problem's slug: the last segment of its type URI. */
export function readProblemSlug(problem: { type: string }): string {
  return problem.type.slice(problem.type.lastIndexOf('/') + 1);
}

/** The gRPC code for a problem, by its slug and HTTP status. */
export function mapProblemToCode(slug: string, httpStatus: number): GrpcCode {
  // A request naming a type nobody registered: well-formed, but the registry must change
  // before it can succeed. FAILED_PRECONDITION says exactly that; NOT_FOUND would suggest a
  // missing RPC target. Schema failures (also 422 in HTTP) are the client's data: INVALID_ARGUMENT.
  if (slug === 'unknown-event-type') return GrpcCode.FAILED_PRECONDITION;
  switch (httpStatus) {
    case 400:
    case 415:
    case 422:
      return GrpcCode.INVALID_ARGUMENT;
    case 401:
      return GrpcCode.UNAUTHENTICATED;
    case 403:
      return GrpcCode.PERMISSION_DENIED;
    case 404:
      return GrpcCode.NOT_FOUND;
    case 405:
      return GrpcCode.UNIMPLEMENTED;
    case 408:
      return GrpcCode.DEADLINE_EXCEEDED;
    case 413:
    case 429:
    case 431:
      return GrpcCode.RESOURCE_EXHAUSTED;
    case 503:
      return GrpcCode.UNAVAILABLE;
    default:
      return httpStatus >= 400 && httpStatus < 500 ? GrpcCode.INVALID_ARGUMENT : GrpcCode.INTERNAL;
  }
}

/** Schema violations (`errors`) and the faulty attribute (`attribute`) as field violations. */
export function readViolations(problem: Record<string, unknown>): Violation[] {
  const violations: Violation[] = [];
  if (Array.isArray(problem.errors)) {
    for (const e of problem.errors as { instancePath?: unknown; message?: unknown }[]) {
      violations.push({
        field: `data${typeof e.instancePath === 'string' ? e.instancePath : ''}`,
        description: typeof e.message === 'string' ? e.message : '',
      });
    }
  }
  if (typeof problem.attribute === 'string') {
    violations.push({ field: problem.attribute, description: String(problem.detail ?? '') });
  }
  return violations;
}

/** One event's refusal as a herald.v1.EventError (batch and stream results). */
export function buildEventError(
  problem: Record<string, unknown> & { type: string },
): EventErrorMessage {
  const slug = readProblemSlug(problem);
  return {
    code: mapProblemToCode(slug, Number(problem.status)),
    reason: slug,
    message: String(problem.detail ?? ''),
    problemType: problem.type,
    violations: readViolations(problem),
  };
}

function readRetryAfter(error: ProblemError): number | undefined {
  const header = error.headers?.['retry-after'];
  if (header === undefined) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
}

/** String-valued ErrorInfo metadata: the problem type and its scalar extensions. */
function buildErrorMetadata(problem: Problem): Record<string, string> {
  const metadata: Record<string, string> = { type: problem.type };
  for (const [key, value] of Object.entries(problem)) {
    if (key === 'type' || key === 'title' || key === 'status' || key === 'detail') continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
      metadata[key] = String(value).slice(0, MAX_TRAILER_VALUE_LENGTH);
    }
  }
  return metadata;
}

/**
 * The problem JSON for the trailer: whole when small; else its `errors` and `failures` lists
 * cut to their first entries (`errorsOmitted`, `failuresOmitted` say how many are missing);
 * else only type, title, status and detail.
 */
export function serializeTrailerProblem(problem: Problem): string {
  const whole = JSON.stringify(problem);
  if (Buffer.byteLength(whole) <= MAX_TRAILER_PROBLEM_BYTES) return whole;
  const cut: Record<string, unknown> = { ...problem };
  for (const key of ['errors', 'failures']) {
    const list = cut[key];
    if (Array.isArray(list) && list.length > MAX_TRAILER_VIOLATIONS) {
      cut[key] = list.slice(0, MAX_TRAILER_VIOLATIONS);
      cut[`${key}Omitted`] = list.length - MAX_TRAILER_VIOLATIONS;
    }
  }
  const shorter = JSON.stringify(cut);
  if (Buffer.byteLength(shorter) <= MAX_TRAILER_PROBLEM_BYTES) return shorter;
  const { type, title, status, detail } = problem;
  return JSON.stringify({
    type,
    title,
    status,
    detail: detail.slice(0, MAX_DETAILS_LENGTH),
    truncated: true,
  });
}

/** The status a call fails with for this problem, trailers included. */
export function buildGrpcError(error: ProblemError): Partial<StatusObject> {
  const { problem } = error;
  const slug = readProblemSlug(problem);
  const code = mapProblemToCode(slug, problem.status);
  const retryAfter = readRetryAfter(error);
  const details = problem.detail.slice(0, MAX_DETAILS_LENGTH);
  const trailers = new Metadata();
  trailers.set(
    'grpc-status-details-bin',
    encodeStatusDetails({
      code,
      message: details,
      errorInfo: {
        reason: slug.toUpperCase().replaceAll('-', '_'),
        domain: ERROR_DOMAIN,
        metadata: buildErrorMetadata(problem),
      },
      violations: readViolations(problem)
        .slice(0, MAX_TRAILER_VIOLATIONS)
        .map((v) => ({
          field: v.field.slice(0, MAX_TRAILER_VALUE_LENGTH),
          description: v.description.slice(0, MAX_TRAILER_VALUE_LENGTH),
        })),
      retryDelaySeconds: retryAfter,
    }),
  );
  trailers.set('herald-problem-bin', Buffer.from(serializeTrailerProblem(problem), 'utf8'));
  if (retryAfter !== undefined) trailers.set('retry-after', String(retryAfter));
  return { code, details, metadata: trailers };
}

/**
 * API errors as the real API server reports them: a `kind: Status` body whose `reason` and
 * `code` clients branch on (client-node's ApiException.code, kubectl's messages).
 */

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export const StatusReason = {
  BadRequest: 'BadRequest',
  NotFound: 'NotFound',
  AlreadyExists: 'AlreadyExists',
  Conflict: 'Conflict',
  Invalid: 'Invalid',
  Gone: 'Gone',
  Expired: 'Expired',
  MethodNotAllowed: 'MethodNotAllowed',
  NotAcceptable: 'NotAcceptable',
  UnsupportedMediaType: 'UnsupportedMediaType',
  Forbidden: 'Forbidden',
  InternalError: 'InternalError',
} as const;

/** Thrown anywhere in request handling; the server turns it into a Status response. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Status {
    return makeStatus(this.code, this.reason, this.message, this.details);
  }
}

export function makeStatus(
  code: number,
  reason: string | undefined,
  message: string,
  details?: StatusDetails,
): Status {
  const status: Status = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: code >= 200 && code < 300 ? 'Success' : 'Failure',
    message,
    code,
  };
  if (reason) status.reason = reason;
  if (details) status.details = details;
  return status;
}

/** What a resource is called in messages: `secrets`, `eventtypes.herald.dev`. */
export interface QualifiedResource {
  group: string;
  plural: string;
}

export function describeResource(r: QualifiedResource): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export function notFound(r: QualifiedResource, name: string): ApiError {
  return new ApiError(404, StatusReason.NotFound, `${describeResource(r)} "${name}" not found`, {
    name,
    group: r.group,
    kind: r.plural,
  });
}

export function alreadyExists(r: QualifiedResource, name: string): ApiError {
  return new ApiError(
    409,
    StatusReason.AlreadyExists,
    `${describeResource(r)} "${name}" already exists`,
    { name, group: r.group, kind: r.plural },
  );
}

export function conflict(r: QualifiedResource, name: string, why: string): ApiError {
  return new ApiError(
    409,
    StatusReason.Conflict,
    `Operation cannot be fulfilled on ${describeResource(r)} "${name}": ${why}`,
    { name, group: r.group, kind: r.plural },
  );
}

export const STALE_OBJECT =
  'the object has been modified; please apply your changes to the latest version and try again';

/** 422 with one cause per field, like apimachinery's field.ErrorList. */
export function invalid(
  r: QualifiedResource & { kind: string },
  name: string,
  causes: StatusCause[],
): ApiError {
  const kind = r.group ? `${r.kind}.${r.group}` : r.kind;
  const lines = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : c.message));
  const summary = lines.length === 1 ? lines[0] : `[${lines.join(', ')}]`;
  return new ApiError(422, StatusReason.Invalid, `${kind} "${name}" is invalid: ${summary}`, {
    name,
    group: r.group,
    kind: r.kind,
    causes,
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, StatusReason.BadRequest, message);
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, StatusReason.MethodNotAllowed, message);
}

export function expired(message: string): ApiError {
  return new ApiError(410, StatusReason.Expired, message);
}

export function forbidden(message: string): ApiError {
  return new ApiError(403, StatusReason.Forbidden, message);
}

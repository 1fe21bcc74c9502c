/** Problems as gRPC statuses: the code table, and trailers that every client can read. */
import { strict as assert } from 'node:assert';
import { status } from '@grpc/grpc-js';
import {
  MAX_TRAILER_PROBLEM_BYTES,
  buildGrpcError,
  mapProblemToCode,
} from '../../broker/grpc-status.js';
import { ProblemError, ProblemKind } from '../../broker/problems.js';

describe('broker gRPC status mapping', () => {
  it('maps every problem kind to its documented code', () => {
    const expected: Record<string, status> = {
      'invalid-cloudevent': status.INVALID_ARGUMENT,
      unauthorized: status.UNAUTHENTICATED,
      'forbidden-type': status.PERMISSION_DENIED,
      'forbidden-source': status.PERMISSION_DENIED,
      'payload-too-large': status.RESOURCE_EXHAUSTED,
      'batch-too-large': status.RESOURCE_EXHAUSTED,
      'unknown-event-type': status.FAILED_PRECONDITION,
      'schema-validation-failed': status.INVALID_ARGUMENT,
      'rate-limited': status.RESOURCE_EXHAUSTED,
      'internal-error': status.INTERNAL,
      'jetstream-unavailable': status.UNAVAILABLE,
      'not-ready': status.UNAVAILABLE,
    };
    for (const kind of Object.values(ProblemKind)) {
      const code = mapProblemToCode(kind.slug, kind.status);
      if (kind.status === 401) assert.equal(code, status.UNAUTHENTICATED, kind.slug);
      else if (kind.status === 503) assert.equal(code, status.UNAVAILABLE, kind.slug);
      if (kind.slug in expected) assert.equal(code, expected[kind.slug], kind.slug);
      assert.notEqual(code, status.OK, kind.slug);
    }
  });

  it('keeps the trailers small however many violations there are', () => {
    const errors = Array.from({ length: 5_000 }, (_, i) => ({
      instancePath: `/lines/${i}/qty`,
      message: 'must be >= 1',
    }));
    const error = new ProblemError(ProblemKind.SchemaValidationFailed, 'x'.repeat(10_000), {
      extensions: { errors, source: 's'.repeat(10_000) },
    });
    const grpcError = buildGrpcError(error);
    let size = 0;
    for (const [key, values] of Object.entries(grpcError.metadata?.getMap() ?? {})) {
      size += key.length + (Buffer.isBuffer(values) ? values.length : String(values).length);
    }
    assert.ok(size < 8 * 1024, `trailers of ${size} bytes`);
    const problem = JSON.parse(String(grpcError.metadata?.get('herald-problem-bin')[0])) as Record<
      string,
      unknown
    >;
    assert.ok(Buffer.byteLength(JSON.stringify(problem)) <= MAX_TRAILER_PROBLEM_BYTES);
    assert.equal(problem.type, 'https://herald.dev/problems/schema-validation-failed');
    assert.ok((grpcError.details ?? '').length <= 1024);
  });
});

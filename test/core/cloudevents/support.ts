/** Shared helpers for the CloudEvents codec tests. */
import { strict as assert } from 'node:assert';
import { CodecError, type CodecErrorCode } from '../../../core/cloudevents/index.js';

export const BASE = {
  specversion: '1.0',
  id: 'evt-1',
  source: 'https://acme.example/orders',
  type: 'com.example.order.created',
} as const;

/** Asserts that `run` throws a CodecError with this code (and attribute, when given). */
export function assertCodecError(
  run: () => unknown,
  code: CodecErrorCode,
  attribute?: string,
): CodecError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof CodecError, `expected a CodecError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (attribute !== undefined) {
    assert.equal(caught.attribute, attribute, caught.message);
    // Long names are not echoed in full (messages go back to clients).
    const shown = attribute.length > 40 ? attribute.slice(0, 20) : attribute;
    assert.ok(caught.message.includes(shown), `message names ${attribute}: ${caught.message}`);
  }
  return caught;
}

export const bytes = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'utf8'));

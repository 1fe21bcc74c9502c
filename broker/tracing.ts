/**
 * W3C Trace Context carried into the CloudEvents Distributed Tracing extension: a request's
 * `traceparent` (and `tracestate`) become the `traceparent`/`tracestate` attributes of each
 * event that does not carry its own, so the trace flows on to the webhooks (the dispatcher
 * sends every attribute as a `ce-` header). An invalid `traceparent` is ignored, not refused:
 * tracing must never cost a producer an event.
 */
import type { CloudEvent } from '../core/cloudevents/types.js';

/** version "-" trace-id "-" parent-id "-" flags, lower-case hex (W3C Trace Context §3.2). */
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_PARENT_ID = '0'.repeat(16);
/** What a tracestate may hold at most (§3.3.1.5: 32 members, 512 characters are kept). */
const MAX_TRACESTATE_LENGTH = 512;
const TRACESTATE_CHARS = /^[\x20-\x7e]*$/;

/**
 * True for a `traceparent` a W3C-compliant tracer would accept: version 00 exactly as
 * specified; a later version may append fields after a `-` (forward compatibility, §3.2.4);
 * version ff, an all-zero trace-id or parent-id are invalid.
 */
export function isValidTraceparent(value: string): boolean {
  if (value.length < 55) return false;
  const m = TRACEPARENT.exec(value);
  if (m === null) return false;
  const [, version, traceId, parentId, , rest] = m;
  if (version === 'ff' || traceId === ZERO_TRACE_ID || parentId === ZERO_PARENT_ID) return false;
  return version !== '00' || rest === undefined;
}

/** A `tracestate` worth carrying: non-empty printable ASCII within the length W3C keeps. */
export function isCarriableTracestate(value: string): boolean {
  const trimmed = value.trim();
  return (
    trimmed !== '' && trimmed.length <= MAX_TRACESTATE_LENGTH && TRACESTATE_CHARS.test(trimmed)
  );
}

/**
 * Sets `traceparent` (and `tracestate`, when carriable) on every event that has neither.
 * `traceparent`/`tracestate` are the raw transport values (HTTP headers, gRPC metadata):
 * anything but a single valid string is ignored. An event with either attribute of its own
 * is left as sent, so the pair always belongs to one trace.
 */
export function carryTraceContext(
  events: readonly CloudEvent[],
  traceparent: unknown,
  tracestate: unknown,
): void {
  if (typeof traceparent !== 'string' || !isValidTraceparent(traceparent)) return;
  const state =
    typeof tracestate === 'string' && isCarriableTracestate(tracestate)
      ? tracestate.trim()
      : undefined;
  for (const event of events) {
    const attributes = event.attributes;
    if (attributes.traceparent !== undefined || attributes.tracestate !== undefined) continue;
    attributes.traceparent = traceparent;
    if (state !== undefined) attributes.tracestate = state;
  }
}

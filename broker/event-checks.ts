/**
 * The per-event checks of the ingest pipeline (ingest.ts), after authentication: the event's
 * EventType (422 when unregistered), the producer's permission to publish it (403), and its
 * data against the type (422). Each throws a ProblemError; all are synchronous, so the only
 * async hop per event stays the JetStream PubAck.
 */
import { isJsonEssence, readMediaTypeEssence } from '../core/cloudevents/index.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { ConfigCache } from '../core/config/kv.js';
import type { CompiledEventType, CompiledProducer } from '../core/config/model.js';
import { ProblemError, ProblemKind } from './problems.js';
import { isSourceAllowed, type ProducerRules } from './producer-rules.js';
import type { SchemaValidators } from './schemas.js';

/** The registered EventType of the event in the producer's namespace; 422 when there is none. */
export function findEventType(
  cache: ConfigCache,
  producer: CompiledProducer,
  event: CloudEvent,
): CompiledEventType {
  const type = event.attributes.type as string;
  const et = cache.findEventTypeByCeType(producer.namespace, type);
  if (et === undefined) {
    throw new ProblemError(
      ProblemKind.UnknownEventType,
      `No event type "${type}" is registered in namespace "${producer.namespace}".`,
      { extensions: { eventType: type, namespace: producer.namespace } },
    );
  }
  return et;
}

/** 403 unless the producer (`rules`: its lookups) may publish this type from this source. */
export function checkPermission(
  rules: ProducerRules,
  producer: CompiledProducer,
  et: CompiledEventType,
  event: CloudEvent,
): void {
  if (!rules.eventTypes.has(et.name)) {
    throw new ProblemError(
      ProblemKind.ForbiddenType,
      `Producer "${rules.id}" may not publish events of type "${et.type}".`,
      { extensions: { eventType: et.type } },
    );
  }
  const source = event.attributes.source as string;
  if (!isSourceAllowed(rules, source)) {
    throw new ProblemError(
      ProblemKind.ForbiddenSource,
      `Producer "${rules.id}" may not publish events with source "${source}".`,
      { extensions: { source, allowedSources: producer.sources } },
    );
  }
}

/**
 * Checks `data` against the type's `dataContentType` and then its schema; 422 listing every
 * violation. A JSON `dataContentType` takes data the codec parsed as JSON or labelled with
 * any JSON media type (in any charset, or as data_base64: the schema, if any, then needs it
 * parsed); any other must be named by the event's `datacontenttype` (parameters ignored).
 */
export function validateEventData(
  validators: SchemaValidators,
  et: CompiledEventType,
  event: CloudEvent,
): void {
  const data = event.data;
  if (data !== undefined) {
    const expected = readMediaTypeEssence(et.dataContentType);
    const actual = event.attributes.datacontenttype;
    const matches = isJsonEssence(expected)
      ? data.kind === 'json' ||
        (typeof actual === 'string' && isJsonEssence(readMediaTypeEssence(actual)))
      : typeof actual === 'string' && readMediaTypeEssence(actual) === expected;
    if (!matches) {
      const named = typeof actual === 'string' ? readMediaTypeEssence(actual) : 'not set';
      throw new ProblemError(
        ProblemKind.SchemaValidationFailed,
        `Events of type "${et.type}" carry ${expected} data; this event's datacontenttype is ${named}.`,
        { extensions: { errors: [{ instancePath: '', message: `must be ${expected}` }] } },
      );
    }
  }
  if (et.schema === undefined) return;
  let value: unknown;
  if (data === undefined) value = undefined;
  else if (data.kind === 'json') value = data.value;
  // JSON sent in another charset: stored as its bytes, checked as what they say.
  else if (data.kind === 'binary' && data.json !== undefined) value = data.json.value;
  else {
    throw new ProblemError(
      ProblemKind.SchemaValidationFailed,
      `Events of type "${et.type}" carry JSON data checked against a schema; this event's data is not JSON.`,
      { extensions: { errors: [{ instancePath: '', message: 'must be JSON' }] } },
    );
  }
  let result;
  try {
    result = validators.check(et, value);
  } catch (err) {
    throw new ProblemError(
      ProblemKind.InternalError,
      `The schema of "${et.type}" cannot be used.`,
      {
        reason: err instanceof Error ? err.message : String(err),
        cause: err,
      },
    );
  }
  if (result.ok) return;
  const more = result.violations.length - 1;
  throw new ProblemError(
    ProblemKind.SchemaValidationFailed,
    `data does not match the schema of "${et.type}": ${result.firstPath} ${result.firstMessage}` +
      (more > 0 ? ` (and ${more} more error${more > 1 ? 's' : ''})` : ''),
    { extensions: { errors: result.violations } },
  );
}

/**
 * JSON Schema validation of event `data`: one ajv (2020-12 + formats) per broker, each schema
 * compiled once per `schemaDigest` (the operator's sha256 of the canonical schema), never on
 * a request. Entries whose digest no config entry uses any more are dropped on change.
 */
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { CompiledEventType } from '../core/config/model.js';
import { createSchemaAjv } from '../core/json-schema.js';

/** One schema violation as the broker reports it: a JSON pointer into `data` and ajv's message. */
export interface SchemaViolation {
  instancePath: string;
  message: string;
}

export type SchemaCheck =
  | { ok: true }
  | { ok: false; violations: SchemaViolation[]; firstPath: string; firstMessage: string };

/** A compiled schema, or why it could not be compiled (the operator should have refused it). */
type CompiledSchema = { schema: object; validate: ValidateFunction } | { error: string };

const OK: SchemaCheck = { ok: true };

export class SchemaValidators {
  private readonly ajv: Ajv2020;
  private readonly byDigest = new Map<string, CompiledSchema>();

  constructor() {
    // The operator compiles schemas with the same factory: what it accepts, the broker can use.
    this.ajv = createSchemaAjv();
  }

  /** Number of compiled schemas held (for tests and metrics). */
  get size(): number {
    return this.byDigest.size;
  }

  /** Compiles the type's schema unless its digest is already compiled. */
  prepare(et: CompiledEventType): CompiledSchema | undefined {
    if (et.schema === undefined) return undefined;
    let compiled = this.byDigest.get(et.schemaDigest);
    if (compiled === undefined) {
      // Without its top-level $id: two namespaces may reuse one $id for different schemas.
      const { $id: _id, ...schema } = et.schema;
      try {
        compiled = { schema, validate: this.ajv.compile(schema) };
      } catch (err) {
        compiled = { error: err instanceof Error ? err.message : String(err) };
      }
      this.byDigest.set(et.schemaDigest, compiled);
    }
    return compiled;
  }

  /** Drops compiled schemas no event type in `live` uses. */
  retainOnly(live: Iterable<CompiledEventType>): void {
    const used = new Set<string>();
    for (const et of live) if (et.schema !== undefined) used.add(et.schemaDigest);
    for (const [digest, compiled] of this.byDigest) {
      if (used.has(digest)) continue;
      // ajv keeps every compiled schema in its own cache too; release it there as well.
      if ('schema' in compiled) this.ajv.removeSchema(compiled.schema);
      this.byDigest.delete(digest);
    }
  }

  /**
   * Checks JSON data against the type's schema. Absent data is checked as JSON `null`, so a
   * schema that requires an object refuses an event without data.
   * Throws when the schema could not be compiled.
   */
  check(et: CompiledEventType, value: unknown): SchemaCheck {
    const compiled = this.prepare(et);
    if (compiled === undefined) return OK;
    if ('error' in compiled)
      throw new Error(`schema of ${et.namespace}/${et.name}: ${compiled.error}`);
    const validate = compiled.validate;
    if (validate(value === undefined ? null : value)) return OK;
    const errors = validate.errors as ErrorObject[];
    const violations = errors.map((e) => ({
      instancePath: e.instancePath,
      message: e.message ?? e.keyword,
    }));
    const first = errors[0] as ErrorObject;
    return {
      ok: false,
      violations,
      firstPath: pathOf(first),
      firstMessage: first.message ?? first.keyword,
    };
  }
}

/** The pointer naming the failing value; for `required`, the missing property itself. */
function pathOf(e: ErrorObject): string {
  const missing = (e.params as { missingProperty?: unknown }).missingProperty;
  if (e.keyword === 'required' && typeof missing === 'string') {
    return `${e.instancePath}/${missing.replace(/~/g, '~0').replace(/\//g, '~1')}`;
  }
  return e.instancePath === '' ? '/' : e.instancePath;
}

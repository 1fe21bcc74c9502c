/**
 * CRD structural schemas: their type, and what happens before validation: CEL rules compiled
 * (once per rule text), unknown fields pruned as the API server prunes them, and `default`s
 * filled in.
 */
import { compileCel, type CelProgram } from './cel.js';
import type { StatusCause } from './errors.js';
import { cloneJson, isMap } from './objects.js';

export interface CelValidationRule {
  rule: string;
  message?: string;
  fieldPath?: string;
  reason?: string;
}

/** apiextensions.k8s.io/v1 JSONSchemaProps, as far as the fake reads it. */
export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  default?: unknown;
  anyOf?: Schema[];
  allOf?: Schema[];
  oneOf?: Schema[];
  not?: Schema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: string;
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: CelValidationRule[];
}

const programs = new Map<string, CelProgram>();

/** The compiled program of a rule that compileSchemaRules accepted. */
export function findCelProgram(rule: string): CelProgram | undefined {
  return programs.get(rule);
}

/** Compiles every CEL rule in a schema; returns the errors (empty when all compile). */
export function compileSchemaRules(schema: Schema, path = 'openAPIV3Schema'): StatusCause[] {
  const causes: StatusCause[] = [];
  (schema['x-kubernetes-validations'] ?? []).forEach((v, i) => {
    try {
      if (!programs.has(v.rule)) programs.set(v.rule, compileCel(v.rule));
    } catch (err) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: `${path}.x-kubernetes-validations[${i}].rule`,
        message: `Invalid value: ${JSON.stringify(v.rule)}: compilation failed: ${(err as Error).message}`,
      });
    }
  });
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    causes.push(...compileSchemaRules(child, `${path}.properties[${key}]`));
  }
  if (schema.items) causes.push(...compileSchemaRules(schema.items, `${path}.items`));
  if (isMap(schema.additionalProperties)) {
    causes.push(
      ...compileSchemaRules(schema.additionalProperties as Schema, `${path}.additionalProperties`),
    );
  }
  return causes;
}

export function childPath(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function preservesUnknown(schema: Schema): boolean {
  return schema['x-kubernetes-preserve-unknown-fields'] === true;
}

/** Removes fields the schema does not declare; returns their paths (for Strict and warnings). */
export function pruneUnknownFields(value: unknown, schema: Schema, path = ''): string[] {
  const unknown: string[] = [];
  if (Array.isArray(value)) {
    if (schema.items) {
      value.forEach((item, i) =>
        unknown.push(...pruneUnknownFields(item, schema.items as Schema, `${path}[${i}]`)),
      );
    }
    return unknown;
  }
  if (!isMap(value)) return unknown;
  const additional = schema.additionalProperties;
  for (const key of Object.keys(value)) {
    const declared = schema.properties?.[key];
    if (declared) {
      // metadata is ObjectMeta, checked elsewhere: only its name rules live in the schema.
      if (path === '' && key === 'metadata') continue;
      unknown.push(...pruneUnknownFields(value[key], declared, childPath(path, key)));
    } else if (isMap(additional)) {
      unknown.push(...pruneUnknownFields(value[key], additional as Schema, `${path}[${key}]`));
    } else if (path === '' && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) {
      continue;
    } else if (!preservesUnknown(schema) && additional !== true) {
      delete value[key];
      unknown.push(childPath(path, key));
    }
  }
  return unknown;
}

/** Fills in `default`s of absent properties, depth first. */
export function applyDefaults(value: unknown, schema: Schema): void {
  if (Array.isArray(value)) {
    if (schema.items) for (const item of value) applyDefaults(item, schema.items);
    return;
  }
  if (!isMap(value)) return;
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    if (value[key] === undefined && child.default !== undefined)
      value[key] = cloneJson(child.default);
    if (value[key] !== undefined) applyDefaults(value[key], child);
  }
  if (isMap(schema.additionalProperties)) {
    const child = schema.additionalProperties as Schema;
    for (const key of Object.keys(value)) applyDefaults(value[key], child);
  }
}

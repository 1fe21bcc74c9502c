/**
 * Admission of a write: the incoming object checked against the URL (apiVersion, kind,
 * namespace, name), its namespace existing and not terminating, then pruning, defaults and
 * validation (hooks, CRD schema, finalizer rules), failing with 400, 404, 403 or 422.
 */
import { ApiError, StatusReason, badRequest, invalid, type StatusCause } from './errors.js';
import { DNS_LABEL, DNS_SUBDOMAIN, cloneJson, isMap, type KubeObject } from './objects.js';
import { apiVersionOf, type ResourceType } from './resource-types.js';
import { applyDefaults, pruneUnknownFields } from './schema.js';
import type { ObjectStore } from './store.js';
import { validateAgainstSchema } from './validation.js';
import type { WriteOptions } from './writes.js';

export function toStorage(rt: ResourceType, incoming: unknown): KubeObject {
  if (!isMap(incoming)) throw badRequest('the object provided is not a JSON object');
  const expected = apiVersionOf(rt);
  if (incoming.apiVersion !== undefined && incoming.apiVersion !== expected) {
    throw badRequest(
      `the API version in the data (${String(incoming.apiVersion)}) does not match the expected API version (${expected})`,
    );
  }
  if (incoming.kind !== undefined && incoming.kind !== rt.kind) {
    throw badRequest(
      `the kind in the data (${String(incoming.kind)}) does not match the expected kind (${rt.kind})`,
    );
  }
  const obj = cloneJson(incoming) as KubeObject;
  if (!isMap(obj.metadata)) obj.metadata = {};
  obj.apiVersion = expected;
  obj.kind = rt.kind;
  return rt.hooks.toStorage ? rt.hooks.toStorage(obj) : obj;
}

/** Prunes, defaults and validates; throws 400 (strict unknown fields) or 422. */
export function admit(
  rt: ResourceType,
  obj: KubeObject,
  old: KubeObject | undefined,
  options: WriteOptions,
): void {
  rt.hooks.prepare?.(obj, old);
  const causes: StatusCause[] = [];
  const name = obj.metadata.name ?? '';
  if (rt.schema) {
    const unknown = pruneUnknownFields(obj, rt.schema);
    if (unknown.length > 0 && options.fieldValidation === 'Strict') {
      throw badRequest(
        `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`,
      );
    }
    if (options.fieldValidation !== 'Ignore') {
      for (const field of unknown) options.warnings.push(`unknown field "${field}"`);
    }
    applyDefaults(obj, rt.schema);
    causes.push(...validateAgainstSchema(obj, rt.schema, old));
  }
  causes.push(...(rt.hooks.validate?.(obj, old) ?? []));
  if (old?.metadata.deletionTimestamp) {
    const added = (obj.metadata.finalizers ?? []).filter(
      (f) => !(old.metadata.finalizers ?? []).includes(f),
    );
    if (added.length > 0) {
      causes.push({
        reason: 'FieldValueForbidden',
        field: 'metadata.finalizers',
        message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}`,
      });
    }
  }
  if (causes.length > 0) throw invalid(rt, name, causes);
}

export function checkName(rt: ResourceType, name: string): void {
  const pattern = rt.plural === 'namespaces' ? DNS_LABEL : DNS_SUBDOMAIN;
  const limit = rt.plural === 'namespaces' ? 63 : 253;
  if (!pattern.test(name) || name.length > limit) {
    const what = rt.plural === 'namespaces' ? 'RFC 1123 label' : 'RFC 1123 subdomain';
    throw invalid(rt, name, [
      {
        reason: 'FieldValueInvalid',
        field: 'metadata.name',
        message: `Invalid value: ${JSON.stringify(name)}: a lowercase ${what} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
      },
    ]);
  }
}

/** Checks the namespace of a namespaced write exists and is not terminating. */
export function checkNamespace(
  store: ObjectStore,
  rt: ResourceType,
  namespace: string | undefined,
  name: string,
): void {
  if (!rt.namespaced || namespace === undefined) return;
  const ns = store.get('namespaces', undefined, namespace);
  if (!ns) {
    throw new ApiError(404, StatusReason.NotFound, `namespaces "${namespace}" not found`, {
      name: namespace,
      kind: 'namespaces',
    });
  }
  if (ns.metadata.deletionTimestamp) {
    throw new ApiError(
      403,
      StatusReason.Forbidden,
      `${rt.group ? `${rt.plural}.${rt.group}` : rt.plural} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
      { name, group: rt.group, kind: rt.plural },
    );
  }
}

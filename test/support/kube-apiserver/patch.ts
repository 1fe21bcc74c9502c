/**
 * The four PATCH content types: JSON merge patch (RFC 7386), JSON patch (RFC 6902), strategic
 * merge patch (enough for Secrets, Namespaces, Leases, Events: maps merge, known lists merge
 * by key, `$patch`/`$retainKeys`/`$deleteFromPrimitiveList` directives) and server-side apply
 * (the applied configuration merges in; fields the same manager applied before and dropped
 * now are removed; no ownership conflicts between managers).
 */
import { cloneJson, equalJson, isMap, type JsonMap } from './objects.js';

export const PatchType = {
  Json: 'application/json-patch+json',
  Merge: 'application/merge-patch+json',
  Strategic: 'application/strategic-merge-patch+json',
  Apply: 'application/apply-patch+yaml',
} as const;

/** A patch that cannot be applied; `code` is what the API server answers. */
export class PatchError extends Error {
  constructor(
    message: string,
    readonly code: 400 | 422 = 422,
  ) {
    super(message);
  }
}

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return cloneJson(patch);
  const result: JsonMap = isMap(target) ? cloneJson(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/'))
    throw new PatchError(`invalid JSON pointer ${JSON.stringify(pointer)}`, 400);
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

interface Located {
  parent: JsonMap | unknown[];
  key: string;
}

function locate(doc: unknown, pointer: string): Located {
  const parts = parsePointer(pointer);
  const key = parts.pop();
  if (key === undefined) throw new PatchError('cannot operate on the document root', 422);
  let current = doc;
  for (const part of parts) {
    if (Array.isArray(current)) current = current[Number(part)];
    else if (isMap(current)) current = current[part];
    else current = undefined;
    if (current === undefined) {
      throw new PatchError(`doc is missing path: "${pointer}": missing value`);
    }
  }
  if (!Array.isArray(current) && !isMap(current)) {
    throw new PatchError(`doc is missing path: "${pointer}": missing value`);
  }
  return { parent: current, key };
}

function arrayIndex(list: unknown[], key: string, forInsert: boolean): number {
  if (forInsert && key === '-') return list.length;
  if (!/^(0|[1-9]\d*)$/.test(key))
    throw new PatchError(`invalid array index ${JSON.stringify(key)}`);
  const index = Number(key);
  if (index > list.length || (!forInsert && index === list.length)) {
    throw new PatchError(`unable to access invalid index: ${index}`);
  }
  return index;
}

function getAt(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  const { parent, key } = locate(doc, pointer);
  const value = Array.isArray(parent) ? parent[arrayIndex(parent, key, false)] : parent[key];
  if (value === undefined) throw new PatchError(`doc is missing path: "${pointer}": missing value`);
  return value;
}

function removeAt(doc: unknown, pointer: string): unknown {
  const { parent, key } = locate(doc, pointer);
  if (Array.isArray(parent)) return parent.splice(arrayIndex(parent, key, false), 1)[0];
  if (!(key in parent)) {
    throw new PatchError(`unable to remove nonexistent key: ${key}: missing value`);
  }
  const value = parent[key];
  delete parent[key];
  return value;
}

function addAt(doc: unknown, pointer: string, value: unknown): void {
  const { parent, key } = locate(doc, pointer);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, true), 0, value);
  else parent[key] = value;
}

export function applyJsonPatch(target: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new PatchError('json patch must be an array of operations', 400);
  let doc = cloneJson(target);
  for (const op of patch) {
    if (!isMap(op) || typeof op.op !== 'string' || typeof op.path !== 'string') {
      throw new PatchError(`invalid JSON patch operation ${JSON.stringify(op)}`, 400);
    }
    const path = op.path;
    const from = typeof op.from === 'string' ? op.from : '';
    switch (op.op) {
      case 'add':
        if (path === '') doc = cloneJson(op.value);
        else addAt(doc, path, cloneJson(op.value));
        break;
      case 'remove':
        removeAt(doc, path);
        break;
      case 'replace':
        if (path === '') doc = cloneJson(op.value);
        else {
          getAt(doc, path);
          removeAt(doc, path);
          addAt(doc, path, cloneJson(op.value));
        }
        break;
      case 'move': {
        const value = removeAt(doc, from);
        addAt(doc, path, value);
        break;
      }
      case 'copy':
        addAt(doc, path, cloneJson(getAt(doc, from)));
        break;
      case 'test':
        if (!equalJson(getAt(doc, path), op.value)) {
          throw new PatchError(`testing value ${path} failed: test failed`);
        }
        break;
      default:
        throw new PatchError(`Unexpected kind: ${op.op}`, 400);
    }
  }
  return doc;
}

/** Lists that strategic merge patch merges item by item, by field name → merge key. */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  ownerReferences: 'uid',
  conditions: 'type',
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  imagePullSecrets: 'name',
};
/** Primitive lists that strategic merge patch merges as sets. */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

function mergeList(field: string, target: unknown[], patch: unknown[]): unknown[] {
  if (patch.some((item) => isMap(item) && item.$patch === 'replace')) {
    return patch.filter((item) => !(isMap(item) && item.$patch === 'replace'));
  }
  const key = MERGE_KEYS[field];
  if (key && patch.every((item) => isMap(item) && key in item)) {
    const result = cloneJson(target);
    for (const item of patch as JsonMap[]) {
      const index = result.findIndex((t) => isMap(t) && equalJson(t[key], item[key]));
      if (item.$patch === 'delete') {
        if (index >= 0) result.splice(index, 1);
      } else if (index >= 0) result[index] = applyStrategicMergePatch(result[index], item);
      else result.push(applyStrategicMergePatch({}, item));
    }
    return result;
  }
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    return [...target, ...patch.filter((item) => !target.some((t) => equalJson(t, item)))];
  }
  return cloneJson(patch);
}

export function applyStrategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return cloneJson(patch);
  if (patch.$patch === 'delete') return undefined;
  const replace = patch.$patch === 'replace';
  const result: JsonMap = isMap(target) && !replace ? cloneJson(target) : {};
  if (Array.isArray(patch.$retainKeys)) {
    const retain = new Set(patch.$retainKeys as string[]);
    for (const key of Object.keys(result)) if (!retain.has(key)) delete result[key];
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const list = result[field];
      if (Array.isArray(list) && Array.isArray(value)) {
        result[field] = list.filter((item) => !value.some((v) => equalJson(v, item)));
      }
      continue;
    }
    if (value === null) delete result[key];
    else if (Array.isArray(value)) {
      const current = result[key];
      result[key] = mergeList(key, Array.isArray(current) ? current : [], value);
    } else if (isMap(value)) {
      const merged = applyStrategicMergePatch(result[key], value);
      if (merged === undefined) delete result[key];
      else result[key] = merged;
    } else result[key] = value;
  }
  return result;
}

/**
 * Server-side apply: `config` merges into `current` (maps recursively, everything else
 * replaced); fields `previous` (this manager's last applied configuration) set and `config`
 * no longer sets are removed.
 */
export function applyConfiguration(current: JsonMap, config: JsonMap, previous?: JsonMap): JsonMap {
  const result = cloneJson(current);
  mergeApplied(result, config);
  if (previous) removeDropped(result, previous, config);
  return result;
}

function mergeApplied(target: JsonMap, config: JsonMap): void {
  for (const [key, value] of Object.entries(config)) {
    const existing = target[key];
    if (isMap(value) && isMap(existing)) mergeApplied(existing, value);
    else target[key] = cloneJson(value);
  }
}

function removeDropped(target: JsonMap, previous: JsonMap, config: JsonMap): void {
  for (const [key, value] of Object.entries(previous)) {
    const next = config[key];
    const existing = target[key];
    if (isMap(value) && isMap(existing) && (next === undefined || isMap(next))) {
      // Only the keys this manager set go: labels others added stay.
      removeDropped(existing, value, isMap(next) ? next : {});
      if (next === undefined && Object.keys(existing).length === 0) delete target[key];
    } else if (next === undefined) delete target[key];
  }
}

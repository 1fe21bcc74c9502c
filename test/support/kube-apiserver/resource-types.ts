/**
 * What the fake serves: one ResourceType per (group, version, resource), built in (builtins.ts)
 * or registered from a CRD (crds.ts). Versions of one resource share storage (`storageKey`).
 */
import type { StatusCause } from './errors.js';
import type { KubeObject } from './objects.js';
import type { Schema } from './schema.js';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export type CommitType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface ResourceHooks {
  /** Normalises an object about to be written (derived fields, server-set defaults). */
  prepare?(obj: KubeObject, old: KubeObject | undefined): void;
  /** Field errors of an object about to be written; empty when valid. */
  validate?(obj: KubeObject, old: KubeObject | undefined): StatusCause[];
  /** From this version's shape to the stored shape (and back). */
  toStorage?(obj: KubeObject): KubeObject;
  fromStorage?(obj: KubeObject): KubeObject;
  /** Runs after a write is stored (CRDs register their resources here). */
  afterCommit?(obj: KubeObject, type: CommitType): void;
}

export interface ResourceType {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: readonly string[];
  categories: readonly string[];
  verbs: readonly string[];
  storageKey: string;
  statusSubresource: boolean;
  /** metadata.generation is kept (custom resources, CRDs). */
  tracksGeneration: boolean;
  /** An update must carry metadata.resourceVersion (custom resources refuse blind writes). */
  requireResourceVersion: boolean;
  /** DELETE answers with a Status rather than the deleted object. */
  deleteReturnsStatus: boolean;
  /** List items carry apiVersion and kind (unstructured lists do, typed lists do not). */
  listItemsTyped: boolean;
  hooks: ResourceHooks;
  columns: readonly ColumnDefinition[];
  cells(obj: KubeObject, now: number): unknown[];
  /** Custom resources: the version's openAPIV3Schema. */
  schema?: Schema;
  /** Custom resources: the CRD that defines them. */
  crdName?: string;
}

export const ALL_VERBS = [
  'create',
  'delete',
  'deletecollection',
  'get',
  'list',
  'patch',
  'update',
  'watch',
] as const;

export function apiVersionOf(rt: Pick<ResourceType, 'group' | 'version'>): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

export const NAME_COLUMN: ColumnDefinition = {
  name: 'Name',
  type: 'string',
  format: 'name',
  description:
    'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.',
  priority: 0,
};

export function column(
  name: string,
  type: string,
  description = '',
  priority = 0,
): ColumnDefinition {
  return { name, type, format: '', description, priority };
}

/** Every served ResourceType, looked up the ways URLs and discovery need. */
export class ResourceRegistry {
  private readonly types = new Map<string, ResourceType>();

  private static key(group: string, version: string, plural: string): string {
    return `${group}/${version}/${plural}`;
  }

  add(rt: ResourceType): void {
    this.types.set(ResourceRegistry.key(rt.group, rt.version, rt.plural), rt);
  }

  removeWhere(predicate: (rt: ResourceType) => boolean): void {
    for (const [key, rt] of this.types) if (predicate(rt)) this.types.delete(key);
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(ResourceRegistry.key(group, version, plural));
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  /** Group → versions served, in registration order (the first is the preferred one). */
  groups(): Map<string, string[]> {
    const groups = new Map<string, string[]>();
    for (const rt of this.types.values()) {
      const versions = groups.get(rt.group) ?? [];
      if (!versions.includes(rt.version)) versions.push(rt.version);
      groups.set(rt.group, versions);
    }
    return groups;
  }

  inGroupVersion(group: string, version: string): ResourceType[] {
    return this.all().filter((rt) => rt.group === group && rt.version === version);
  }

  /** Every version sharing `storageKey`: a stored object is visible through each. */
  byStorageKey(storageKey: string): ResourceType[] {
    return this.all().filter((rt) => rt.storageKey === storageKey);
  }
}

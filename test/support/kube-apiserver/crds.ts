/**
 * CustomResourceDefinitions: the apiextensions.k8s.io/v1 resource itself, and the live
 * registration of what each CRD defines. Creating or changing a CRD (from `crds/*.yaml` at
 * start-up or through the API) serves its resources at once, with the CRD's schema, status
 * subresource, names and printer columns; deleting it removes its objects, then the resource.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { StatusCause } from './errors.js';
import { formatTime, isMap, type JsonMap, type KubeObject } from './objects.js';
import {
  ALL_VERBS,
  NAME_COLUMN,
  apiVersionOf,
  column,
  type ResourceRegistry,
  type ResourceType,
} from './resource-types.js';
import { makeCustomColumns, type PrinterColumn } from './table.js';
import { compileSchemaRules, type Schema } from './schema.js';

export const CRD_CLEANUP_FINALIZER = 'customresourcecleanup.apiextensions.k8s.io';

interface CrdNames {
  plural: string;
  singular?: string;
  kind: string;
  listKind?: string;
  shortNames?: string[];
  categories?: string[];
}

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: Schema };
  subresources?: { status?: JsonMap; scale?: JsonMap };
  additionalPrinterColumns?: PrinterColumn[];
}

interface CrdSpec {
  group: string;
  scope: string;
  names: CrdNames;
  versions: CrdVersion[];
}

function specOf(obj: KubeObject): CrdSpec {
  return obj.spec as CrdSpec;
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first, others last. */
export function compareKubeVersions(a: string, b: string): number {
  const rank = (v: string): [number, number, number, string] => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return [3, 0, 0, v];
    const stage = m[2] === undefined ? 0 : m[2] === 'beta' ? 1 : 2;
    return [stage, -Number(m[1]), -Number(m[3] ?? 0), v];
  };
  const ra = rank(a);
  const rb = rank(b);
  for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return (ra[i] as number) - (rb[i] as number);
  return ra[3].localeCompare(rb[3]);
}

/** The ResourceTypes a CRD serves, one per served version, best version first. */
export function makeCustomResourceTypes(crd: KubeObject): ResourceType[] {
  const spec = specOf(crd);
  const { names } = spec;
  const storageKey = `${names.plural}.${spec.group}`;
  return spec.versions
    .filter((v) => v.served)
    .sort((a, b) => compareKubeVersions(a.name, b.name))
    .map((v): ResourceType => {
      const apiVersion = apiVersionOf({ group: spec.group, version: v.name });
      const withVersion = (obj: KubeObject): KubeObject => ({ ...obj, apiVersion });
      return {
        group: spec.group,
        version: v.name,
        plural: names.plural,
        singular: names.singular ?? names.kind.toLowerCase(),
        kind: names.kind,
        listKind: names.listKind ?? `${names.kind}List`,
        namespaced: spec.scope === 'Namespaced',
        shortNames: names.shortNames ?? [],
        categories: names.categories ?? [],
        verbs: ALL_VERBS,
        storageKey,
        statusSubresource: isMap(v.subresources?.status),
        tracksGeneration: true,
        requireResourceVersion: true,
        deleteReturnsStatus: false,
        listItemsTyped: true,
        // No conversion webhooks: versions differ only in apiVersion (strategy None).
        hooks: { toStorage: withVersion, fromStorage: withVersion },
        schema: v.schema?.openAPIV3Schema,
        crdName: crd.metadata.name,
        ...makeCustomColumns(v.additionalPrinterColumns ?? []),
      };
    });
}

function required(causes: StatusCause[], field: string, value: unknown): void {
  if (value === undefined || value === null || value === '') {
    causes.push({ reason: 'FieldValueRequired', field, message: 'Required value' });
  }
}

function validateCrd(obj: KubeObject, old: KubeObject | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  const spec = isMap(obj.spec) ? (obj.spec as Partial<CrdSpec>) : {};
  const names: Partial<CrdNames> = isMap(spec.names) ? spec.names : {};
  required(causes, 'spec.group', spec.group);
  required(causes, 'spec.names.plural', names.plural);
  required(causes, 'spec.names.kind', names.kind);
  if (spec.group && !spec.group.includes('.')) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.group',
      message: `Invalid value: ${JSON.stringify(spec.group)}: should be a domain with at least one dot`,
    });
  }
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'spec.scope',
      message: `Unsupported value: ${JSON.stringify(spec.scope ?? '')}: supported values: "Cluster", "Namespaced"`,
    });
  }
  if (names.plural && spec.group && obj.metadata.name !== `${names.plural}.${spec.group}`) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.name',
      message: `Invalid value: ${JSON.stringify(obj.metadata.name)}: must be spec.names.plural+"."+spec.group`,
    });
  }
  const versions = Array.isArray(spec.versions) ? spec.versions : [];
  if (versions.length === 0) required(causes, 'spec.versions', undefined);
  else if (versions.filter((v) => v.storage).length !== 1) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.versions',
      message: `Invalid value: ${JSON.stringify(versions.map((v) => v.name))}: must have exactly one version marked as storage version`,
    });
  }
  versions.forEach((v, i) => {
    const schema = v.schema?.openAPIV3Schema;
    const path = `spec.versions[${i}].schema.openAPIV3Schema`;
    if (!isMap(schema)) {
      causes.push({
        reason: 'FieldValueRequired',
        field: path,
        message: 'Required value: schemas are required',
      });
    } else {
      causes.push(...compileSchemaRules(schema, path));
    }
  });
  if (old) {
    const before = specOf(old);
    for (const field of ['group', 'scope'] as const) {
      if (before[field] !== spec[field]) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: `spec.${field}`,
          message: `Invalid value: ${JSON.stringify(spec[field])}: field is immutable`,
        });
      }
    }
  }
  return causes;
}

function condition(type: string, status: string, reason: string, message: string): JsonMap {
  return { type, status, lastTransitionTime: formatTime(), reason, message };
}

/** What the CRD controllers would write into status: accepted names, Established, versions. */
function prepareCrd(obj: KubeObject): void {
  const spec = specOf(obj);
  const names = spec.names;
  const acceptedNames: JsonMap = {
    plural: names.plural,
    singular: names.singular ?? names.kind.toLowerCase(),
    kind: names.kind,
    listKind: names.listKind ?? `${names.kind}List`,
  };
  if (names.shortNames) acceptedNames.shortNames = names.shortNames;
  if (names.categories) acceptedNames.categories = names.categories;
  const status = isMap(obj.status) ? obj.status : {};
  const previous = Array.isArray(status.conditions) ? (status.conditions as JsonMap[]) : [];
  const keep = (c: JsonMap): JsonMap =>
    previous.find((p) => p.type === c.type && p.status === c.status) ?? c;
  const conditions = [
    keep(condition('NamesAccepted', 'True', 'NoConflicts', 'no conflicts found')),
    keep(
      condition(
        'Established',
        'True',
        'InitialNamesAccepted',
        'the initial names have been accepted',
      ),
    ),
  ];
  if (obj.metadata.deletionTimestamp) {
    conditions.push(
      keep(
        condition(
          'Terminating',
          'True',
          'InstanceDeletionInProgress',
          'CustomResource deletion is in progress',
        ),
      ),
    );
  }
  const stored = Array.isArray(status.storedVersions) ? (status.storedVersions as string[]) : [];
  const storage = spec.versions.find((v) => v.storage)?.name;
  obj.status = {
    conditions,
    acceptedNames,
    storedVersions: storage && !stored.includes(storage) ? [...stored, storage] : stored,
  };
  if (!obj.metadata.deletionTimestamp) {
    const finalizers = obj.metadata.finalizers ?? [];
    if (!finalizers.includes(CRD_CLEANUP_FINALIZER)) {
      obj.metadata.finalizers = [...finalizers, CRD_CLEANUP_FINALIZER];
    }
  }
}

/** The apiextensions.k8s.io/v1 CustomResourceDefinition resource, wired to `registry`. */
export function makeCrdType(registry: ResourceRegistry): ResourceType {
  return {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    plural: 'customresourcedefinitions',
    singular: 'customresourcedefinition',
    kind: 'CustomResourceDefinition',
    listKind: 'CustomResourceDefinitionList',
    namespaced: false,
    shortNames: ['crd', 'crds'],
    categories: ['api-extensions'],
    verbs: ALL_VERBS,
    storageKey: 'customresourcedefinitions.apiextensions.k8s.io',
    statusSubresource: true,
    tracksGeneration: true,
    requireResourceVersion: true,
    deleteReturnsStatus: false,
    listItemsTyped: false,
    hooks: {
      prepare: prepareCrd,
      validate: validateCrd,
      afterCommit(obj, type) {
        registry.removeWhere((rt) => rt.crdName === obj.metadata.name);
        if (type !== 'DELETED') for (const rt of makeCustomResourceTypes(obj)) registry.add(rt);
      },
    },
    columns: [NAME_COLUMN, column('Created At', 'date')],
    cells: (obj) => [obj.metadata.name, obj.metadata.creationTimestamp ?? null],
  };
}

/** Every CustomResourceDefinition document in the YAML/JSON files of `dir`, in file order. */
export function readCrdFiles(dir: string): KubeObject[] {
  const files = readdirSync(dir)
    .filter((f) => /\.(ya?ml|json)$/.test(f))
    .sort();
  const crds: KubeObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
      const value: unknown = doc.toJS({ maxAliasCount: -1 });
      if (isMap(value) && value.kind === 'CustomResourceDefinition' && isMap(value.metadata)) {
        crds.push(value as KubeObject);
      }
    }
  }
  return crds;
}

/**
 * A small but valid OpenAPI v3 surface (/openapi/v3 and one document per group-version).
 * kubectl reads it to learn that the server validates fields itself (`fieldValidation` on
 * PATCH), so `kubectl apply` sends `fieldValidation=Strict` instead of downloading schemas to
 * validate client-side; custom resources carry their CRD schema (for `kubectl explain`).
 * /openapi/v2 is not served (404), which kubectl tolerates when v3 is present.
 */
import { createHash } from 'node:crypto';
import { PatchType } from './patch.js';
import type { ResourceRegistry, ResourceType } from './resource-types.js';

function groupVersionPath(group: string, version: string): string {
  return group ? `apis/${group}/${version}` : `api/${version}`;
}

/** OpenAPI schema names use the reversed group: herald.dev → dev.herald.v1alpha1.EventType. */
function schemaName(rt: ResourceType): string {
  const group = rt.group ? rt.group.split('.').reverse().join('.') : 'io.k8s.api.core';
  return `${group}.${rt.version}.${rt.kind}`;
}

const queryParam = (name: string, type = 'string'): Record<string, unknown> => ({
  name,
  in: 'query',
  schema: { type, uniqueItems: true },
});

function operations(rt: ResourceType): Record<string, unknown> {
  const gvk = { group: rt.group, version: rt.version, kind: rt.kind };
  // Built-ins have no schema here: kubectl then computes strategic merge patches from its own
  // compiled-in types, as it does against servers without OpenAPI.
  const ref = rt.schema ? { $ref: `#/components/schemas/${schemaName(rt)}` } : { type: 'object' };
  const response = {
    '200': { description: 'OK', content: { 'application/json': { schema: ref } } },
  };
  const operation = (
    action: string,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> => ({
    operationId: `${action}${rt.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    responses: response,
    ...extra,
  });
  const writeParams = [
    queryParam('dryRun'),
    queryParam('fieldManager'),
    queryParam('fieldValidation'),
  ];
  const patchTypes = [PatchType.Json, PatchType.Merge, PatchType.Apply];
  return {
    get: operation('get'),
    put: operation('put', {
      parameters: writeParams,
      requestBody: { content: { 'application/json': { schema: ref } } },
    }),
    patch: operation('patch', {
      parameters: [...writeParams, queryParam('force', 'boolean')],
      requestBody: {
        content: Object.fromEntries(patchTypes.map((t) => [t, { schema: { type: 'object' } }])),
      },
    }),
    delete: operation('delete', { parameters: [queryParam('dryRun')] }),
  };
}

export function makeOpenApiV3Document(
  registry: ResourceRegistry,
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const types = registry.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};
  for (const rt of types) {
    const base = `/${groupVersionPath(group, version)}`;
    const item = rt.namespaced
      ? `${base}/namespaces/{namespace}/${rt.plural}/{name}`
      : `${base}/${rt.plural}/{name}`;
    paths[item] = {
      parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
      ...operations(rt),
    };
    if (rt.schema) {
      schemas[schemaName(rt)] = {
        ...rt.schema,
        'x-kubernetes-group-version-kind': [
          { group: rt.group, kind: rt.kind, version: rt.version },
        ],
      };
    }
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Kubernetes', version: 'v1.35.0' },
    paths,
    components: { schemas },
  };
}

export function makeOpenApiV3Root(registry: ResourceRegistry): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const [group, versions] of registry.groups()) {
    for (const version of versions) {
      const path = groupVersionPath(group, version);
      const document = JSON.stringify(makeOpenApiV3Document(registry, group, version));
      const hash = createHash('sha512').update(document).digest('hex').slice(0, 32).toUpperCase();
      paths[path] = { serverRelativeURL: `/openapi/v3/${path}?hash=${hash}` };
    }
  }
  return { paths };
}

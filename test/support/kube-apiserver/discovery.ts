/**
 * Discovery as kubectl and client libraries read it: /api, /apis, /apis/<group> and the
 * per-group-version resource lists (names, kinds, verbs, short names, categories, and the
 * `<plural>/status` subresource). Always the legacy (unaggregated) form: kubectl falls back
 * to it when the response is not an APIGroupDiscoveryList.
 */
import { createHash } from 'node:crypto';
import type { ResourceRegistry, ResourceType } from './resource-types.js';

function groupVersion(group: string, version: string): string {
  return group ? `${group}/${version}` : version;
}

export function makeApiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function makeGroup(group: string, versions: string[]): Record<string, unknown> {
  const entries = versions.map((version) => ({
    groupVersion: groupVersion(group, version),
    version,
  }));
  return { name: group, versions: entries, preferredVersion: entries[0] };
}

export function makeApiGroupList(registry: ResourceRegistry): Record<string, unknown> {
  const groups = [...registry.groups()]
    .filter(([group]) => group !== '')
    .map(([group, versions]) => makeGroup(group, versions));
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function makeApiGroup(
  registry: ResourceRegistry,
  group: string,
): Record<string, unknown> | undefined {
  const versions = registry.groups().get(group);
  if (!versions || group === '') return undefined;
  return { kind: 'APIGroup', apiVersion: 'v1', ...makeGroup(group, versions) };
}

/** storageVersionHash: an opaque digest clients use only to notice storage changes. */
function hashStorage(rt: ResourceType): string {
  return createHash('sha256')
    .update(`${rt.group}/${rt.kind}/${rt.storageKey}`)
    .digest('base64')
    .slice(0, 11);
}

export function makeApiResourceList(
  registry: ResourceRegistry,
  group: string,
  version: string,
): Record<string, unknown> | undefined {
  const types = registry.inGroupVersion(group, version);
  if (types.length === 0) return undefined;
  const resources: Record<string, unknown>[] = [];
  for (const rt of types.sort((a, b) => a.plural.localeCompare(b.plural))) {
    const resource: Record<string, unknown> = {
      name: rt.plural,
      singularName: rt.singular,
      namespaced: rt.namespaced,
      kind: rt.kind,
      verbs: [...rt.verbs],
      storageVersionHash: hashStorage(rt),
    };
    if (rt.shortNames.length > 0) resource.shortNames = [...rt.shortNames];
    if (rt.categories.length > 0) resource.categories = [...rt.categories];
    resources.push(resource);
    if (rt.statusSubresource) {
      resources.push({
        name: `${rt.plural}/status`,
        singularName: '',
        namespaced: rt.namespaced,
        kind: rt.kind,
        verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion(group, version),
    resources,
  };
}

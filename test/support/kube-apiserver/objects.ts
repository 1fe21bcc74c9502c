/** The JSON shapes the fake stores, and the small helpers every module needs on them. */
import { randomUUID } from 'node:crypto';

export type JsonMap = Record<string, unknown>;

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: unknown[];
  managedFields?: unknown[];
  [key: string]: unknown;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export function isMap(value: unknown): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function cloneJson<T>(value: T): T {
  return structuredClone(value);
}

/** Structural equality of JSON values (key order ignored). */
export function equalJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((item, i) => equalJson(item, b[i]));
  }
  if (isMap(a) && isMap(b)) {
    const keysA = Object.keys(a).filter((k) => a[k] !== undefined);
    const keysB = Object.keys(b).filter((k) => b[k] !== undefined);
    return keysA.length === keysB.length && keysA.every((k) => equalJson(a[k], b[k]));
  }
  return false;
}

/** Kubernetes `Time`: RFC 3339 in seconds. */
export function formatTime(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Kubernetes `MicroTime`: RFC 3339 with six fractional digits. */
export function formatMicroTime(value: string): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const fraction = /\.(\d+)/.exec(value)?.[1] ?? '';
  const micros = (fraction + '000000').slice(0, 6);
  return `${date.toISOString().slice(0, 19)}.${micros}Z`;
}

export function newUid(): string {
  return randomUUID();
}

/** generateName suffix: five characters of the alphabet apimachinery uses. */
export function generateNameSuffix(): string {
  const alphabet = 'bcdfghjklmnpqrstvwxz2456789';
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += alphabet[Math.floor(Math.random() * alphabet.length)];
  return suffix;
}

/** Everything outside metadata and status: what bumps `metadata.generation` when changed. */
export function omitMetadataAndStatus(obj: KubeObject, keepStatus = false): JsonMap {
  const rest: JsonMap = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'metadata' || key === 'apiVersion' || key === 'kind') continue;
    if (key === 'status' && !keepStatus) continue;
    rest[key] = value;
  }
  return rest;
}

/** Reads a dotted path (`spec.sink.uri`) from an object. */
export function readPath(obj: unknown, path: readonly string[]): unknown {
  let current = obj;
  for (const key of path) {
    if (!isMap(current)) return undefined;
    current = current[key];
  }
  return current;
}

export const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

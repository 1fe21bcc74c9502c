/**
 * `labelSelector` (equality and set-based: `a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`,
 * `!a`) and `fieldSelector` (`=`, `==`, `!=` on the fields each resource supports, as the API
 * server refuses any other field with 400).
 */
import { badRequest } from './errors.js';
import { readPath, type KubeObject } from './objects.js';

export type Matcher = (obj: KubeObject) => boolean;

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Splits on commas that are not inside parentheses. */
function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}

function checkLabel(selector: string, key: string, values: string[] = []): void {
  if (!LABEL_KEY.test(key) || values.some((v) => !LABEL_VALUE.test(v))) {
    throw badRequest(
      `unable to parse requirement: invalid label selector: ${JSON.stringify(selector)}`,
    );
  }
}

export function parseLabelSelector(selector: string | null): Matcher {
  if (!selector) return () => true;
  const requirements: Matcher[] = [];
  for (const part of splitRequirements(selector)) {
    const labels = (obj: KubeObject): Record<string, string> => obj.metadata.labels ?? {};
    let m: RegExpExecArray | null;
    if ((m = /^(\S+?)\s*(==|=|!=)\s*(\S*)$/.exec(part))) {
      const [, key = '', op, value = ''] = m;
      checkLabel(selector, key, [value]);
      requirements.push(
        op === '!=' ? (o) => labels(o)[key] !== value : (o) => labels(o)[key] === value,
      );
    } else if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(part))) {
      const [, key = '', op, list = ''] = m;
      const values = list
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v.length > 0);
      checkLabel(selector, key, values);
      requirements.push(
        op === 'in'
          ? (o) => values.includes(labels(o)[key] ?? '\u0000')
          : (o) => !values.includes(labels(o)[key] ?? '\u0000'),
      );
    } else if ((m = /^!\s*(\S+)$/.exec(part))) {
      const key = m[1] ?? '';
      checkLabel(selector, key);
      requirements.push((o) => !(key in labels(o)));
    } else if (LABEL_KEY.test(part)) {
      requirements.push((o) => part in labels(o));
    } else {
      throw badRequest(
        `unable to parse requirement: invalid label selector: ${JSON.stringify(selector)}`,
      );
    }
  }
  return (obj) => requirements.every((r) => r(obj));
}

/**
 * Parses a fieldSelector; `supported` lists the fields beyond metadata.name and
 * metadata.namespace that the resource accepts (as dotted paths into the stored object).
 */
export function parseFieldSelector(selector: string | null, supported: readonly string[]): Matcher {
  if (!selector) return () => true;
  const requirements: Matcher[] = [];
  for (const part of splitRequirements(selector)) {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${part}'`);
    const [, field = '', op, value = ''] = m;
    if (field !== 'metadata.name' && field !== 'metadata.namespace' && !supported.includes(field)) {
      throw badRequest(`field label not supported: ${field}`);
    }
    const path = field.split('.');
    const read = (obj: KubeObject): string => {
      const v = readPath(obj, path);
      return v === undefined || v === null ? '' : String(v);
    };
    requirements.push(op === '!=' ? (o) => read(o) !== value : (o) => read(o) === value);
  }
  return (obj) => requirements.every((r) => r(obj));
}

/** Extra field selectors of built-in resources, by storage key. */
export const FIELD_SELECTORS: Readonly<Record<string, readonly string[]>> = {
  secrets: ['type'],
  namespaces: ['status.phase'],
  events: [
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'source',
    'type',
  ],
};

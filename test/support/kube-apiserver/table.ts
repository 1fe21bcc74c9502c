/**
 * Server-side printing: `Accept: application/json;as=Table;v=v1;g=meta.k8s.io` turns a get or
 * list into a meta.k8s.io/v1 Table. kubectl prints these columns as they are, so `kubectl get`
 * shows a CRD's additionalPrinterColumns exactly as on a real cluster.
 */
import { evaluateJsonPath } from './jsonpath.js';
import type { KubeObject } from './objects.js';
import { NAME_COLUMN, type ColumnDefinition, type ResourceType } from './resource-types.js';

export interface PrinterColumn {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
  jsonPath: string;
}

/** apimachinery's duration.HumanDuration: what AGE columns show. */
export function formatAge(since: string | undefined, now: number): string | null {
  if (!since) return null;
  const ms = now - new Date(since).getTime();
  if (Number.isNaN(ms)) return '<unknown>';
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${hours / 24}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  const years = Math.floor(hours / 24 / 365);
  const days = Math.floor(hours / 24) % 365;
  if (hours < 24 * 365 * 8) return days === 0 ? `${years}y` : `${years}y${days}d`;
  return `${years}y`;
}

/** One cell of a CRD printer column, typed as the column says (as the apiextensions server does). */
function formatCell(column: PrinterColumn, obj: KubeObject, now: number): unknown {
  let value: unknown;
  try {
    value = evaluateJsonPath(column.jsonPath, obj)[0];
  } catch {
    return null;
  }
  if (value === undefined || value === null) return null;
  switch (column.type) {
    case 'date':
      return typeof value === 'string' ? formatAge(value, now) : null;
    case 'integer':
      return typeof value === 'number' ? Math.trunc(value) : null;
    case 'number':
      return typeof value === 'number' ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    default:
      return typeof value === 'string' ? value : JSON.stringify(value);
  }
}

/** Columns and cells for a custom resource: Name, then the CRD's columns (Age when it has none). */
export function makeCustomColumns(
  printerColumns: readonly PrinterColumn[],
): Pick<ResourceType, 'columns' | 'cells'> {
  const effective: PrinterColumn[] =
    printerColumns.length > 0
      ? [...printerColumns]
      : [{ name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' }];
  return {
    columns: [
      NAME_COLUMN,
      ...effective.map((c): ColumnDefinition => ({
        name: c.name,
        type: c.type,
        format: c.format ?? '',
        description: c.description ?? '',
        priority: c.priority ?? 0,
      })),
    ],
    cells: (obj, now) => [obj.metadata.name, ...effective.map((c) => formatCell(c, obj, now))],
  };
}

export const TABLE_MEDIA = /(^|[;,\s])as=Table/;

/** Whether the Accept header asks for a Table (kubectl get does, client-node never). */
export function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && TABLE_MEDIA.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

export interface TableOptions {
  /** `includeObject`: None, Metadata (the default) or Object. */
  includeObject: string;
  withColumns: boolean;
}

function rowObject(obj: KubeObject, includeObject: string): unknown {
  if (includeObject === 'None') return undefined;
  if (includeObject === 'Object') return obj;
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

export function makeTable(
  rt: ResourceType,
  items: KubeObject[],
  listMeta: Record<string, unknown>,
  options: TableOptions,
): Record<string, unknown> {
  const now = Date.now();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    ...(options.withColumns ? { columnDefinitions: rt.columns } : {}),
    rows: items.map((obj) => {
      const row: Record<string, unknown> = { cells: rt.cells(obj, now) };
      const object = rowObject(obj, options.includeObject);
      if (object !== undefined) row.object = object;
      return row;
    }),
  };
}

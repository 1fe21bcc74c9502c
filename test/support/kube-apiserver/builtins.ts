/**
 * The built-in kinds an operator like Herald's touches: Namespaces, Secrets, Events (core/v1
 * and events.k8s.io/v1, one storage as on a real cluster) and coordination.k8s.io/v1 Leases,
 * with the server-side rules users notice (stringData folded into base64 data, immutable
 * Secrets, required fields of new-style Events, MicroTime precision).
 */
import { badRequest, type StatusCause } from './errors.js';
import { formatMicroTime, isMap, type JsonMap, type KubeObject } from './objects.js';
import { ALL_VERBS, NAME_COLUMN, column, type ResourceType } from './resource-types.js';
import { formatAge } from './table.js';

type BuiltinBase = Omit<
  ResourceType,
  'verbs' | 'statusSubresource' | 'tracksGeneration' | 'requireResourceVersion' | 'listItemsTyped'
> &
  Partial<ResourceType>;

function builtin(rt: BuiltinBase): ResourceType {
  return {
    verbs: ALL_VERBS,
    statusSubresource: false,
    tracksGeneration: false,
    requireResourceVersion: false,
    listItemsTyped: false,
    ...rt,
  };
}

const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const MAX_SECRET_BYTES = 1024 * 1024;

function prepareSecret(obj: KubeObject): void {
  const data: JsonMap = isMap(obj.data) ? obj.data : {};
  for (const [key, value] of Object.entries(data)) {
    if (typeof value !== 'string' || !BASE64.test(value) || value.length % 4 !== 0) {
      throw badRequest(
        `Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 0 (data[${key}])`,
      );
    }
  }
  // stringData is write-only: merged into data (winning over it) and never stored.
  if (isMap(obj.stringData)) {
    for (const [key, value] of Object.entries(obj.stringData)) {
      data[key] = Buffer.from(String(value), 'utf8').toString('base64');
    }
  }
  delete obj.stringData;
  if (Object.keys(data).length > 0 || obj.data !== undefined) obj.data = data;
  if (obj.type === undefined || obj.type === '') obj.type = 'Opaque';
}

function validateSecret(obj: KubeObject, old: KubeObject | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  const data = isMap(obj.data) ? obj.data : {};
  let size = 0;
  for (const [key, value] of Object.entries(data)) {
    size += key.length + Buffer.from(String(value), 'base64').length;
    if (!SECRET_KEY.test(key)) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: `data[${key}]`,
        message: `Invalid value: ${JSON.stringify(key)}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`,
      });
    }
  }
  if (size > MAX_SECRET_BYTES) {
    causes.push({
      reason: 'FieldValueTooLong',
      field: 'data',
      message: `Too long: may not be more than ${MAX_SECRET_BYTES} bytes`,
    });
  }
  if (old) {
    if (old.type !== obj.type) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'type',
        message: `Invalid value: ${JSON.stringify(obj.type)}: field is immutable`,
      });
    }
    if (old.immutable === true) {
      if (JSON.stringify(old.data ?? {}) !== JSON.stringify(obj.data ?? {})) {
        causes.push({
          reason: 'FieldValueForbidden',
          field: 'data',
          message: 'Forbidden: field is immutable when `immutable` is set',
        });
      }
      if (obj.immutable !== true) {
        causes.push({
          reason: 'FieldValueForbidden',
          field: 'immutable',
          message: 'Forbidden: field is immutable when `immutable` is set',
        });
      }
    }
  }
  return causes;
}

export const namespaces = builtin({
  group: '',
  version: 'v1',
  plural: 'namespaces',
  singular: 'namespace',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  namespaced: false,
  shortNames: ['ns'],
  categories: [],
  storageKey: 'namespaces',
  statusSubresource: true,
  deleteReturnsStatus: false,
  hooks: {
    prepare(obj, old) {
      obj.metadata.labels = {
        ...obj.metadata.labels,
        'kubernetes.io/metadata.name': obj.metadata.name ?? '',
      };
      if (!old) {
        obj.spec = { finalizers: ['kubernetes'] };
        obj.status = { phase: 'Active' };
      }
    },
  },
  columns: [NAME_COLUMN, column('Status', 'string'), column('Age', 'string')],
  cells: (obj, now) => [
    obj.metadata.name,
    isMap(obj.status) ? obj.status.phase : null,
    formatAge(obj.metadata.creationTimestamp, now),
  ],
});

export const secrets = builtin({
  group: '',
  version: 'v1',
  plural: 'secrets',
  singular: 'secret',
  kind: 'Secret',
  listKind: 'SecretList',
  namespaced: true,
  shortNames: [],
  categories: [],
  storageKey: 'secrets',
  deleteReturnsStatus: true,
  hooks: { prepare: prepareSecret, validate: validateSecret },
  columns: [
    NAME_COLUMN,
    column('Type', 'string'),
    column('Data', 'string'),
    column('Age', 'string'),
  ],
  cells: (obj, now) => [
    obj.metadata.name,
    obj.type ?? null,
    isMap(obj.data) ? Object.keys(obj.data).length : 0,
    formatAge(obj.metadata.creationTimestamp, now),
  ],
});

const MICRO_TIME_FIELDS = ['acquireTime', 'renewTime'] as const;

export const leases = builtin({
  group: 'coordination.k8s.io',
  version: 'v1',
  plural: 'leases',
  singular: 'lease',
  kind: 'Lease',
  listKind: 'LeaseList',
  namespaced: true,
  shortNames: [],
  categories: [],
  storageKey: 'leases.coordination.k8s.io',
  deleteReturnsStatus: true,
  hooks: {
    prepare(obj) {
      const spec = isMap(obj.spec) ? obj.spec : {};
      for (const field of MICRO_TIME_FIELDS) {
        if (typeof spec[field] === 'string') spec[field] = formatMicroTime(spec[field]);
      }
      obj.spec = spec;
    },
    validate(obj) {
      const spec = isMap(obj.spec) ? obj.spec : {};
      const causes: StatusCause[] = [];
      const duration = spec.leaseDurationSeconds;
      if (
        duration !== undefined &&
        duration !== null &&
        !(typeof duration === 'number' && duration > 0)
      ) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec.leaseDurationSeconds',
          message: `Invalid value: ${JSON.stringify(duration)}: must be greater than 0`,
        });
      }
      const transitions = spec.leaseTransitions;
      if (
        transitions !== undefined &&
        transitions !== null &&
        !(typeof transitions === 'number' && transitions >= 0)
      ) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec.leaseTransitions',
          message: `Invalid value: ${JSON.stringify(transitions)}: must be greater than or equal to 0`,
        });
      }
      return causes;
    },
  },
  columns: [NAME_COLUMN, column('Holder', 'string'), column('Age', 'string')],
  cells: (obj, now) => [
    obj.metadata.name,
    isMap(obj.spec) ? (obj.spec.holderIdentity ?? null) : null,
    formatAge(obj.metadata.creationTimestamp, now),
  ],
});

/** core/v1 field ↔ events.k8s.io/v1 field, for what the two versions name differently. */
const EVENT_FIELD_RENAMES: readonly (readonly [string, string])[] = [
  ['involvedObject', 'regarding'],
  ['message', 'note'],
  ['source', 'deprecatedSource'],
  ['firstTimestamp', 'deprecatedFirstTimestamp'],
  ['lastTimestamp', 'deprecatedLastTimestamp'],
  ['count', 'deprecatedCount'],
  ['reportingComponent', 'reportingController'],
];

function renameFields(obj: KubeObject, from: 0 | 1): KubeObject {
  const out: KubeObject = { ...obj };
  for (const pair of EVENT_FIELD_RENAMES) {
    const source = pair[from];
    const target = pair[from === 0 ? 1 : 0];
    if (source in out) {
      out[target] = out[source];
      delete out[source];
    }
  }
  return out;
}

function prepareEvent(obj: KubeObject): void {
  if (typeof obj.eventTime === 'string') obj.eventTime = formatMicroTime(obj.eventTime);
  if (isMap(obj.series) && typeof obj.series.lastObservedTime === 'string') {
    obj.series.lastObservedTime = formatMicroTime(obj.series.lastObservedTime);
  }
}

function validateEventType(obj: KubeObject, causes: StatusCause[]): void {
  if (obj.type !== undefined && obj.type !== 'Normal' && obj.type !== 'Warning') {
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'type',
      message: `Unsupported value: ${JSON.stringify(obj.type)}: supported values: "Normal", "Warning"`,
    });
  }
}

const eventColumns = [
  column('Last Seen', 'string'),
  column('Type', 'string'),
  column('Reason', 'string'),
  column('Object', 'string'),
  column('Message', 'string'),
];

function eventCells(obj: KubeObject, now: number): unknown[] {
  const core = obj.regarding !== undefined || obj.note !== undefined ? renameFields(obj, 1) : obj;
  const involved = isMap(core.involvedObject) ? core.involvedObject : {};
  const seen = (core.lastTimestamp ?? core.eventTime ?? core.firstTimestamp) as string | undefined;
  return [
    formatAge(seen, now),
    core.type ?? null,
    core.reason ?? null,
    `${String(involved.kind ?? '').toLowerCase()}/${String(involved.name ?? '')}`,
    core.message ?? null,
  ];
}

export const coreEvents = builtin({
  group: '',
  version: 'v1',
  plural: 'events',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  namespaced: true,
  shortNames: ['ev'],
  categories: [],
  storageKey: 'events',
  deleteReturnsStatus: true,
  hooks: {
    prepare: prepareEvent,
    validate(obj) {
      const causes: StatusCause[] = [];
      validateEventType(obj, causes);
      const involved = isMap(obj.involvedObject) ? obj.involvedObject : undefined;
      if (involved?.namespace !== undefined && involved.namespace !== obj.metadata.namespace) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'involvedObject.namespace',
          message: `Invalid value: ${JSON.stringify(involved.namespace)}: does not match event.namespace`,
        });
      }
      return causes;
    },
  },
  columns: eventColumns,
  cells: eventCells,
});

export const eventsV1 = builtin({
  group: 'events.k8s.io',
  version: 'v1',
  plural: 'events',
  singular: 'event',
  kind: 'Event',
  listKind: 'EventList',
  namespaced: true,
  shortNames: ['ev'],
  categories: [],
  storageKey: 'events',
  deleteReturnsStatus: true,
  hooks: {
    prepare: prepareEvent,
    toStorage: (obj) => renameFields(obj, 1),
    fromStorage: (obj) => renameFields(obj, 0),
    validate(stored) {
      // Validation speaks the events.k8s.io/v1 field names the client sent.
      const obj = renameFields(stored, 0);
      const causes: StatusCause[] = [];
      validateEventType(obj, causes);
      for (const field of [
        'eventTime',
        'reportingController',
        'reportingInstance',
        'action',
        'reason',
      ]) {
        if (obj[field] === undefined || obj[field] === '') {
          causes.push({ reason: 'FieldValueRequired', field, message: 'Required value' });
        }
      }
      if (obj.type === undefined) {
        causes.push({ reason: 'FieldValueRequired', field: 'type', message: 'Required value' });
      }
      for (const field of ['action', 'reason', 'reportingInstance']) {
        if (typeof obj[field] === 'string' && obj[field].length > 128) {
          causes.push({
            reason: 'FieldValueTooLong',
            field,
            message: 'Too long: may not be more than 128 bytes',
          });
        }
      }
      if (typeof obj.note === 'string' && obj.note.length > 1024) {
        causes.push({
          reason: 'FieldValueTooLong',
          field: 'note',
          message: 'Too long: may not be more than 1024 bytes',
        });
      }
      return causes;
    },
  },
  columns: eventColumns,
  cells: eventCells,
});

export const BUILTIN_TYPES: readonly ResourceType[] = [
  namespaces,
  secrets,
  coreEvents,
  eventsV1,
  leases,
];

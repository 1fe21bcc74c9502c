/**
 * Just enough of the Kubernetes protobuf encoding to read the request bodies kubectl's typed
 * commands send (`kubectl create namespace`, `kubectl create secret generic`): they POST
 * `application/vnd.kubernetes.protobuf` and do not fall back to JSON. Responses stay JSON,
 * which those clients accept. Other kinds in protobuf get 415.
 *
 * Field numbers are those of k8s.io/api and k8s.io/apimachinery generated.proto.
 */

type Field =
  | { name: string; type: 'string' | 'bytes' | 'int' | 'bool' | 'time'; repeated?: boolean }
  | { name: string; type: 'message'; message: Descriptor; repeated?: boolean }
  | { name: string; type: 'map'; values: 'string' | 'bytes' };
type Descriptor = Readonly<Record<number, Field>>;

const TYPE_META: Descriptor = {
  1: { name: 'apiVersion', type: 'string' },
  2: { name: 'kind', type: 'string' },
};
const UNKNOWN: Descriptor = {
  1: { name: 'typeMeta', type: 'message', message: TYPE_META },
  2: { name: 'raw', type: 'bytes' },
  3: { name: 'contentEncoding', type: 'string' },
  4: { name: 'contentType', type: 'string' },
};
const OWNER_REFERENCE: Descriptor = {
  1: { name: 'kind', type: 'string' },
  3: { name: 'name', type: 'string' },
  4: { name: 'uid', type: 'string' },
  5: { name: 'apiVersion', type: 'string' },
  6: { name: 'controller', type: 'bool' },
  7: { name: 'blockOwnerDeletion', type: 'bool' },
};
const OBJECT_META: Descriptor = {
  1: { name: 'name', type: 'string' },
  2: { name: 'generateName', type: 'string' },
  3: { name: 'namespace', type: 'string' },
  5: { name: 'uid', type: 'string' },
  6: { name: 'resourceVersion', type: 'string' },
  7: { name: 'generation', type: 'int' },
  8: { name: 'creationTimestamp', type: 'time' },
  9: { name: 'deletionTimestamp', type: 'time' },
  10: { name: 'deletionGracePeriodSeconds', type: 'int' },
  11: { name: 'labels', type: 'map', values: 'string' },
  12: { name: 'annotations', type: 'map', values: 'string' },
  13: { name: 'ownerReferences', type: 'message', message: OWNER_REFERENCE, repeated: true },
  14: { name: 'finalizers', type: 'string', repeated: true },
};
const KINDS: Readonly<Record<string, Descriptor>> = {
  'v1/Secret': {
    1: { name: 'metadata', type: 'message', message: OBJECT_META },
    2: { name: 'data', type: 'map', values: 'bytes' },
    3: { name: 'type', type: 'string' },
    4: { name: 'stringData', type: 'map', values: 'string' },
    5: { name: 'immutable', type: 'bool' },
  },
  'v1/Namespace': {
    1: { name: 'metadata', type: 'message', message: OBJECT_META },
    2: {
      name: 'spec',
      type: 'message',
      message: { 1: { name: 'finalizers', type: 'string', repeated: true } },
    },
    3: { name: 'status', type: 'message', message: { 1: { name: 'phase', type: 'string' } } },
  },
};

export const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

class Reader {
  private offset = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.offset >= this.buf.length;
  }

  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = this.buf[this.offset++];
      if (byte === undefined) throw new Error('truncated varint');
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
    }
  }

  bytes(): Buffer {
    const length = Number(this.varint());
    const slice = this.buf.subarray(this.offset, this.offset + length);
    if (slice.length !== length) throw new Error('truncated field');
    this.offset += length;
    return slice;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.offset += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.offset += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }
}

function decodeMessage(buf: Buffer, descriptor: Descriptor): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const reader = new Reader(buf);
  while (!reader.done) {
    const tag = Number(reader.varint());
    const field = descriptor[tag >> 3];
    const wireType = tag & 7;
    if (!field) {
      reader.skip(wireType);
      continue;
    }
    let value: unknown;
    switch (field.type) {
      case 'string':
        value = reader.bytes().toString('utf8');
        break;
      case 'bytes':
        value = reader.bytes().toString('base64');
        break;
      case 'int':
        value = Number(BigInt.asIntN(64, reader.varint()));
        break;
      case 'bool':
        value = reader.varint() !== 0n;
        break;
      case 'time': {
        const time = decodeMessage(reader.bytes(), { 1: { name: 'seconds', type: 'int' } });
        value = new Date(Number(time.seconds ?? 0) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
        break;
      }
      case 'message':
        value = decodeMessage(reader.bytes(), field.message);
        break;
      case 'map': {
        const entry = decodeMessage(reader.bytes(), {
          1: { name: 'key', type: 'string' },
          2: { name: 'value', type: field.values },
        });
        const map = (out[field.name] ??= {}) as Record<string, unknown>;
        map[String(entry.key ?? '')] = entry.value ?? '';
        continue;
      }
    }
    // Go writes unset strings and numbers as zero values; JSON (omitempty) leaves them out.
    if (value === '' || (value === 0 && field.type === 'int')) continue;
    if (field.type === 'time' && value === '1970-01-01T00:00:00Z') continue;
    if ('repeated' in field && field.repeated) ((out[field.name] ??= []) as unknown[]).push(value);
    else out[field.name] = value;
  }
  return out;
}

/** Decodes a `k8s\0`-framed protobuf object; undefined when its kind is not one known here. */
export function decodeKubernetesProtobuf(body: Buffer): Record<string, unknown> | undefined {
  if (!body.subarray(0, 4).equals(PROTOBUF_MAGIC)) return undefined;
  const unknown = decodeMessage(body.subarray(4), UNKNOWN);
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const descriptor = KINDS[`${typeMeta.apiVersion ?? ''}/${typeMeta.kind ?? ''}`];
  if (!descriptor || typeof unknown.raw !== 'string') return undefined;
  return {
    apiVersion: typeMeta.apiVersion,
    kind: typeMeta.kind,
    ...decodeMessage(Buffer.from(unknown.raw, 'base64'), descriptor),
  };
}

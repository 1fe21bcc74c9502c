/**
 * protobufjs, loaded from the project's .proto files at test time, as the independent peer
 * for Herald's hand-written protobuf codec: what one encodes the other must read.
 */
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { REPO_ROOT } from '../../support/processes.js';

export const PROTO_DIR = join(REPO_ROOT, 'proto');

export interface ProtoPeer {
  root: protobuf.Root;
  CloudEvent: protobuf.Type;
  CloudEventBatch: protobuf.Type;
  /** Encodes a plain object (snake_case field names) as the named message. */
  encode(type: protobuf.Type, value: Record<string, unknown>): Uint8Array;
  /** Decodes to a plain object: oneof names set, longs as numbers, bytes as Buffers. */
  decode(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown>;
}

let loaded: Promise<ProtoPeer> | undefined;

export function loadProtoPeer(): Promise<ProtoPeer> {
  return (loaded ??= (async () => {
    const root = new protobuf.Root();
    // Imports are relative to proto/ (like protoc -I proto); google/protobuf/* are built in.
    root.resolvePath = (_origin, target) =>
      target.startsWith('google/protobuf/') || target.startsWith('/')
        ? target
        : join(PROTO_DIR, target);
    await root.load(
      [
        join(PROTO_DIR, 'io/cloudevents/v1/cloudevents.proto'),
        join(PROTO_DIR, 'io/cloudevents/v1/cloudevent-service.proto'),
        join(PROTO_DIR, 'herald/v1/broker.proto'),
      ],
      { keepCase: true },
    );
    root.resolveAll();
    return {
      root,
      CloudEvent: root.lookupType('io.cloudevents.v1.CloudEvent'),
      CloudEventBatch: root.lookupType('io.cloudevents.v1.CloudEventBatch'),
      encode(type, value) {
        const problem = type.verify(value);
        if (problem !== null) throw new Error(`test message does not fit ${type.name}: ${problem}`);
        return type.encode(type.fromObject(value)).finish();
      },
      decode(type, bytes) {
        return type.toObject(type.decode(bytes), {
          longs: Number,
          oneofs: true,
          bytes: Buffer,
          defaults: false,
        }) as Record<string, unknown>;
      },
    };
  })());
}

// Hand-built wire bytes, for what no encoder would write.

export const REQUIRED = {
  id: 'evt-1',
  source: 'https://acme.example/orders',
  spec_version: '1.0',
  type: 'com.example.order.created',
};

/** Protobuf varint bytes of a non-negative integer below 2^53. */
export function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

export const key = (field: number, wireType: number): number[] => varint(field * 8 + wireType);
export const lenField = (field: number, payload: number[]): number[] => [
  ...key(field, 2),
  ...varint(payload.length),
  ...payload,
];
export const text = (s: string): number[] => [...Buffer.from(s, 'utf8')];

/** One unknown field of each wire type (numbers no CloudEvents message uses). */
export const UNKNOWN_FIELDS = [
  ...key(100, 0),
  ...varint(2 ** 40),
  ...key(101, 1),
  ...[1, 2, 3, 4, 5, 6, 7, 8],
  ...lenField(102, text('ignored')),
  ...key(103, 5),
  ...[9, 9, 9, 9],
  ...key(104, 3),
  ...key(1, 0),
  1,
  ...key(104, 4),
];
/** Nested groups, a deprecated encoding still met as unknown fields. */
export const GROUPS = [...key(104, 3), ...key(105, 3), ...key(105, 4), ...key(104, 4)];

export function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p as Uint8Array))));
}

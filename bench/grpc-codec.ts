/**
 * The protobuf codec alone, on the same ~1 KiB event: Herald's decoder/encoder against
 * protobufjs (decode + toObject, fromObject + encode, loaded from the same .proto), and
 * against Herald's own JSON format codec for scale. Herald's decoder also does what
 * protobufjs does not: every attribute rule, RFC 3339 for the Timestamp, and the JSON parse
 * of the data (the schema check needs it). Median of 5 rounds of 1 s each.
 *
 *   npx tsx bench/grpc-codec.ts
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import {
  decodeProtobuf,
  decodeStructured,
  encodeProtobuf,
  encodeStructured,
  type CloudEvent,
} from '../core/cloudevents/index.js';

const PROTO_DIR = join(import.meta.dirname, '..', 'proto');
const DATA = JSON.stringify({
  orderId: 'o-123456',
  total: 99.5,
  lines: Array.from({ length: 14 }, (_, i) => ({
    sku: `SKU-${1000 + i}`,
    qty: i + 1,
    note: 'x'.repeat(20),
  })),
});
const EVENT: CloudEvent = {
  attributes: {
    specversion: '1.0',
    id: '6a1d0c9e-0b7e-4f7b-9a51-3d1f5f0d7c11',
    source: 'https://acme.example/shop/eu',
    type: 'com.example.order.created',
    datacontenttype: 'application/json',
    subject: 'eu-42',
    time: '2026-11-24T10:00:00.123Z',
    attempt: 3,
  },
  data: { kind: 'json', value: JSON.parse(DATA), text: DATA },
};

/** Median ns per call over 5 rounds of ~1 s. */
function time(run: () => unknown): number {
  const rounds: number[] = [];
  for (let round = 0; round < 5; round++) {
    let n = 0;
    const start = process.hrtime.bigint();
    const until = start + 1_000_000_000n;
    let now = start;
    while (now < until) {
      for (let i = 0; i < 1000; i++) run();
      n += 1000;
      now = process.hrtime.bigint();
    }
    rounds.push(Number(now - start) / n);
  }
  return rounds.sort((a, b) => a - b)[2] as number;
}

const root = new protobuf.Root();
root.resolvePath = (_origin, target) =>
  target.startsWith('google/protobuf/') || target.startsWith('/')
    ? target
    : join(PROTO_DIR, target);
await root.load(join(PROTO_DIR, 'io/cloudevents/v1/cloudevents.proto'), { keepCase: true });
const CloudEventType = root.lookupType('io.cloudevents.v1.CloudEvent');

const bytes = encodeProtobuf(EVENT);
const json = encodeStructured(EVENT);
const peerObject = CloudEventType.toObject(CloudEventType.decode(bytes), { oneofs: true });

const results = [
  ['decode: Herald protobuf', time(() => decodeProtobuf(bytes))],
  [
    'decode: protobufjs decode + toObject',
    time(() => CloudEventType.toObject(CloudEventType.decode(bytes), { oneofs: true })),
  ],
  [
    'decode: protobufjs + JSON.parse(text_data)',
    time(() => {
      const o = CloudEventType.toObject(CloudEventType.decode(bytes), { oneofs: true });
      return JSON.parse(o.text_data as string) as unknown;
    }),
  ],
  ['decode: Herald JSON format', time(() => decodeStructured(json))],
  ['encode: Herald protobuf', time(() => encodeProtobuf(EVENT))],
  [
    'encode: protobufjs fromObject + encode',
    time(() => CloudEventType.encode(CloudEventType.fromObject(peerObject)).finish()),
  ],
  ['encode: Herald JSON format', time(() => encodeStructured(EVENT))],
] as const;

const cpu = cpus();
console.log('command: npx tsx bench/grpc-codec.ts');
console.log(`machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}`);
console.log(`event: ${bytes.length} B protobuf, ${json.length} B JSON (data ${DATA.length} B)`);
for (const [name, ns] of results) console.log(`  ${name.padEnd(44)} ${(ns / 1000).toFixed(2)} µs`);
console.log(
  `  protobufjs / Herald: decode ×${((results[1][1] as number) / (results[0][1] as number)).toFixed(1)} ` +
    `(with the data parse ×${((results[2][1] as number) / (results[0][1] as number)).toFixed(1)}), ` +
    `encode ×${((results[5][1] as number) / (results[4][1] as number)).toFixed(1)}`,
);

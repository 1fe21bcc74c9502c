/**
 * Herald's CloudEvents codec against the cloudevents SDK (v10) on the same ~1 KiB events, in one
 * process: `npx tsx bench/codec.ts [--ms 1000] [--rounds 5]`. Prints the median ops/s of each
 * case over the rounds and Herald's speed-up. Figures, not assertions.
 *
 * Fairness: the SDK is handed the body as a string (it accepts one and skips UTF-8 decoding);
 * Herald is handed bytes, as the broker has them, so its figure includes the UTF-8 check.
 */
import { cpus } from 'node:os';
import { CloudEvent as SdkCloudEvent, HTTP } from 'cloudevents';
import {
  decodeHttpRequest,
  encodeBinary,
  encodeStructured,
  validateAttributes,
  type CloudEvent,
} from '../core/cloudevents/index.js';
import { decodeUtf8Body } from '../core/cloudevents/structured.js';

function readFlag(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at === -1 ? undefined : Number(process.argv[at + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}
const ROUND_MS = readFlag('ms', 1000);
const ROUNDS = readFlag('rounds', 5);

/** Keeps results observable so the optimiser cannot drop the work. */
let sink = 0;

function measureOpsPerSecond(run: () => unknown): number {
  const batch = 200;
  const deadline = process.hrtime.bigint() + BigInt(ROUND_MS) * 1_000_000n;
  const start = process.hrtime.bigint();
  let ops = 0;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < batch; i++) if (run() !== undefined) sink++;
    ops += batch;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function benchSingle(label: string, run: () => unknown): number {
  measureOpsPerSecond(run);
  const runs: number[] = [];
  for (let r = 0; r < ROUNDS; r++) runs.push(measureOpsPerSecond(run));
  const ops = median(runs);
  console.log(
    `${label.padEnd(30)} ${Math.round(ops).toLocaleString('en-US').padStart(18)} ops/s ` +
      `(${(1e6 / ops).toFixed(2).padStart(7)} µs)`,
  );
  return 1e6 / ops;
}

function benchPair(label: string, herald: () => unknown, sdk: () => unknown): number[] {
  measureOpsPerSecond(herald); // warm-up, both sides
  measureOpsPerSecond(sdk);
  const heraldRuns: number[] = [];
  const sdkRuns: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    heraldRuns.push(measureOpsPerSecond(herald));
    sdkRuns.push(measureOpsPerSecond(sdk));
  }
  const h = median(heraldRuns);
  const s = median(sdkRuns);
  const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(11);
  const us = (n: number): string => (1e6 / n).toFixed(2).padStart(7);
  console.log(
    `${label.padEnd(30)} herald ${fmt(h)} ops/s (${us(h)} µs)   sdk ${fmt(s)} ops/s ` +
      `(${us(s)} µs)   ×${(h / s).toFixed(1)}`,
  );
  return [1e6 / h, 1e6 / s];
}

// ~1 KiB of realistic order data.
const data = {
  orderId: 'ord-7f3c9a2e-51b4-4d8e-9c61-2f0a8b7d4e13',
  customer: { id: 'cus-1029384756', email: 'jane.doe@example.com', tier: 'gold', country: 'DE' },
  currency: 'EUR',
  total: 259.97,
  createdAt: '2024-05-01T10:00:00.123Z',
  lines: Array.from({ length: 2 }, (_, i) => ({
    sku: `SKU-${1000 + i}-BLUE-M`,
    name: `Organic cotton t-shirt, model ${i}`,
    quantity: 1 + (i % 3),
    unitPrice: 19.99 + i * 5,
    discounts: i % 2 === 0 ? [] : [{ code: 'SPRING24', amount: 2.5 }],
  })),
  shipping: { method: 'express', address: { city: 'Berlin', postcode: '10115', line1: 'Str. 1' } },
  notes: 'Leave the parcel with the neighbour if nobody answers.',
};
const attributes = {
  specversion: '1.0',
  id: '8f0e4b2c-3d1a-4f5e-9a7b-6c2d1e0f9a8b',
  source: 'https://acme.example/shop/orders',
  type: 'com.example.order.created',
  time: '2024-05-01T10:00:00.123Z',
  subject: 'eu-orders/ord-7f3c9a2e',
  datacontenttype: 'application/json',
  dataschema: 'https://schemas.example/order-created/v1.json',
  partitionkey: 'cus-1029384756',
  traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
};

const structuredText = JSON.stringify({ ...attributes, data });
const structuredBytes = Buffer.from(structuredText);
const structuredHeaders = { 'content-type': 'application/cloudevents+json' };

const binaryHeaders: Record<string, string> = {
  'content-type': attributes.datacontenttype,
  'content-length': '0',
  'user-agent': 'acme-publisher/1.4',
  host: 'herald.example',
};
for (const [name, value] of Object.entries(attributes)) {
  if (name !== 'datacontenttype') binaryHeaders[`ce-${name}`] = value;
}
const binaryText = JSON.stringify(data);
const binaryBytes = Buffer.from(binaryText);
binaryHeaders['content-length'] = String(binaryBytes.length);

// The same binary request with opaque data: what decoding costs when the body is not parsed.
const opaqueHeaders = { ...binaryHeaders, 'content-type': 'application/octet-stream' };

const event: CloudEvent = decodeHttpRequest(structuredHeaders, structuredBytes).events[0]!;
const eventWithoutText: CloudEvent = { ...event, data: { kind: 'json', value: data } };
const sdkEvent = new SdkCloudEvent({ ...attributes, data });

const cpu = cpus();
console.log(`command: npx tsx bench/codec.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
console.log(
  `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}, ` +
    `${process.platform}/${process.arch}`,
);
console.log(
  `node ${process.version}; structured body ${structuredBytes.length} B; binary body ` +
    `${binaryBytes.length} B + ${Object.keys(attributes).length - 1} ce- headers; ` +
    `${ROUNDS} rounds × ${ROUND_MS} ms, median`,
);
const [heraldStructured = 0, sdkStructured = 0] = benchPair(
  'decode structured',
  () => decodeHttpRequest(structuredHeaders, structuredBytes),
  () => HTTP.toEvent({ headers: structuredHeaders, body: structuredText }),
);
benchPair(
  'decode binary',
  () => decodeHttpRequest(binaryHeaders, binaryBytes),
  () => HTTP.toEvent({ headers: binaryHeaders, body: binaryText }),
);
benchPair(
  'decode binary, opaque data',
  () => decodeHttpRequest(opaqueHeaders, binaryBytes),
  () => HTTP.toEvent({ headers: opaqueHeaders, body: binaryBytes }),
);
console.log('floor: UTF-8 decoding and parsing the same bytes, which any decoder must do');
const parseFloor = benchSingle('  JSON.parse(utf8(structured body))', () =>
  JSON.parse(structuredBytes.toString('utf8')),
);
benchSingle('  JSON.parse(utf8(binary body))', () => JSON.parse(binaryBytes.toString('utf8')));
console.log(
  `  structured: Herald ${heraldStructured.toFixed(2)} µs = ×${(heraldStructured / parseFloor).toFixed(2)} ` +
    `the floor; the SDK is ×${(sdkStructured / parseFloor).toFixed(1)} the floor, so a decoder ` +
    `that parses the data can be at most ×${(sdkStructured / parseFloor).toFixed(1)} faster than it`,
);
// Where Herald's structured decode spends its time: the steps it takes, one by one.
const dataAt = structuredText.indexOf(',"data":');
const headText = `${structuredText.slice(0, dataAt)}}`;
const dataText = structuredText.slice(dataAt + ',"data":'.length, -1);
const parsedHead = JSON.parse(headText) as Record<string, unknown>;
console.log("where Herald's structured decode goes (each step alone)");
benchSingle('  bytes to string (UTF-8 check)', () => decodeUtf8Body(structuredBytes, 'body'));
benchSingle('  JSON.parse(attributes)', () => JSON.parse(headText));
benchSingle('  JSON.parse(data)', () => JSON.parse(dataText));
benchSingle('  attribute rules (10 attributes)', () => validateAttributes({ ...parsedHead }));
console.log(
  `  ×10 would need ${(sdkStructured / 10).toFixed(2)} µs a decode; parsing the body alone ` +
    `takes ${parseFloor.toFixed(2)} µs (Herald ${heraldStructured.toFixed(2)} µs in all)`,
);
// A batch of 100 such events (application/cloudevents-batch+json), per event.
const batchText = `[${Array.from({ length: 100 }, (_, i) =>
  JSON.stringify({ ...attributes, id: `${attributes.id}-${i}`, data }),
).join(',')}]`;
const batchBytes = Buffer.from(batchText);
const batchHeaders = { 'content-type': 'application/cloudevents-batch+json' };
const [heraldBatch = 0, sdkBatch = 0] = benchPair(
  'decode batch of 100 (per 100)',
  () => decodeHttpRequest(batchHeaders, batchBytes),
  () => HTTP.toEvent({ headers: batchHeaders, body: batchText }),
);
const batchFloor = benchSingle('  floor: JSON.parse(utf8(batch))', () =>
  JSON.parse(batchBytes.toString('utf8')),
);
console.log(
  `  batch: Herald ${(heraldBatch / 100).toFixed(2)} µs an event = ×${(heraldBatch / batchFloor).toFixed(2)} ` +
    `the floor (${(batchFloor / 100).toFixed(2)} µs); SDK ${(sdkBatch / 100).toFixed(2)} µs an event`,
);
benchPair(
  'encode structured',
  () => encodeStructured(event),
  () => HTTP.structured(sdkEvent),
);
benchPair(
  'encode binary (data text kept)',
  () => encodeBinary(event),
  () => HTTP.binary(sdkEvent),
);
benchPair(
  'encode binary (no data text)',
  () => encodeBinary(eventWithoutText),
  () => HTTP.binary(sdkEvent),
);
if (sink === 0) console.log('(nothing ran)');

/**
 * gRPC ingest rates of the broker against this machine's ceilings, in one run on one
 * nats-server:
 *   0. a bare grpc-js server answering Publish with a fixed receipt (the gRPC ceiling: what
 *      grpc-js itself costs, client and server, on these cores);
 *   1. raw JetStream publish with a msg id (the store ceiling), `concurrency` loops;
 *   2. herald.v1.EventBroker/Publish, `concurrency` unary calls in flight over `channels`
 *      HTTP/2 connections;
 *   3. herald.v1.EventBroker/PublishStream, `streams` client streams written as fast as
 *      flow control allows, counted when the final response reports them stored;
 *   4. herald.v1.EventBroker/PublishBatch of 100 events, `channels` calls in flight.
 * Every event is ~1 KiB, schema-validated, API-key authenticated and deduplicated.
 *
 *   npx tsx bench/grpc.ts [--seconds 5] [--concurrency 64] [--channels 4] [--streams 4]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { startBroker } from '../broker/main.js';
import { startNatsServer } from '../cli/nats-server-process.js';
import { encodeProtobuf, encodeProtobufBatch, type CloudEvent } from '../core/cloudevents/index.js';
import { openConfigBucket, writeCompiledConfig } from '../core/config/kv.js';
import { CONFIG_FORMAT, type CompiledEventType } from '../core/config/model.js';
import { hashApiKey } from '../core/config/seal.js';
import { createSilentLogger } from '../core/logging.js';
import { messageIdFor, streamNameFor, subjectFor } from '../core/topology.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    channels: { type: 'string', default: '4' },
    streams: { type: 'string', default: '4' },
  },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const CHANNELS = Number(values.channels);
const STREAMS = Number(values.streams);
const BATCH = 100;
const API_KEY = 'bench-key-0123456789abcdef';
const SCHEMA = {
  type: 'object',
  required: ['orderId', 'total', 'lines'],
  properties: {
    orderId: { type: 'string' },
    total: { type: 'number', minimum: 0 },
    lines: { type: 'array', items: { type: 'object', required: ['sku', 'qty'] } },
  },
};
const DATA = JSON.stringify({
  orderId: 'o-123456',
  total: 99.5,
  lines: Array.from({ length: 14 }, (_, i) => ({
    sku: `SKU-${1000 + i}`,
    qty: i + 1,
    note: 'x'.repeat(20),
  })),
});
const TYPE = 'com.example.order.created';
const Path = {
  Publish: '/herald.v1.EventBroker/Publish',
  PublishBatch: '/herald.v1.EventBroker/PublishBatch',
  PublishStream: '/herald.v1.EventBroker/PublishStream',
} as const;

let sequence = 0;
function buildEvent(): CloudEvent {
  return {
    attributes: {
      specversion: '1.0',
      id: `grpc-bench-${process.pid}-${sequence++}`,
      source: 'https://acme.example/bench',
      type: TYPE,
      datacontenttype: 'application/json',
    },
    data: { kind: 'json', value: undefined, text: DATA },
  };
}

const passBytes = (b: Buffer): Buffer => b;
const metadata = (): grpc.Metadata => {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${API_KEY}`);
  return m;
};

function unary(client: grpc.Client, path: string, body: Buffer): Promise<void> {
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(path, passBytes, passBytes, body, metadata(), (err) =>
      err === null ? resolve() : reject(err),
    ),
  );
}

/** `CHANNELS` clients; distinct options keep grpc-js from sharing one connection. */
function createClients(port: number): grpc.Client[] {
  return Array.from(
    { length: CHANNELS },
    (_, i) =>
      new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
        'grpc.bench_channel': i,
      } as grpc.ClientOptions),
  );
}

/** Runs `loops` loops of `step` until `until`; returns how many events the steps stored. */
async function runLoops(
  loops: number,
  until: number,
  step: (loop: number) => Promise<number>,
): Promise<number> {
  let total = 0;
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      while (performance.now() < until) {
        const stored = await step(loop); // awaited first: `total +=` would read a stale total
        total += stored;
      }
    }),
  );
  return total;
}

/** Warms up for 1 s, then measures `SECONDS`; events per second. */
async function measure(loops: number, step: (loop: number) => Promise<number>): Promise<number> {
  await runLoops(loops, performance.now() + 1000, step);
  const start = performance.now();
  const count = await runLoops(loops, start + SECONDS * 1000, step);
  return count / ((performance.now() - start) / 1000);
}

/** One client stream written for `ms`, respecting flow control; events reported stored. */
function streamFor(client: grpc.Client, ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const call = client.makeClientStreamRequest(
      Path.PublishStream,
      passBytes,
      passBytes,
      metadata(),
      (err, response) => {
        if (err !== null || response === undefined) return reject(err);
        // Count receipts: results (field 1) whose oneof is a receipt (field 2). Field 2 of
        // the response is failed_count; with no failures every result is a receipt.
        resolve(countResults(response));
      },
    );
    const until = performance.now() + ms;
    const write = (): void => {
      while (performance.now() < until) {
        if (!call.write(encodeProtobuf(buildEvent()))) {
          call.once('drain', write);
          return;
        }
      }
      call.end();
    };
    write();
  });
}

/** Results in a PublishBatchResponse minus its failed_count (a bench needs no full decoder). */
function countResults(response: Buffer): number {
  let results = 0;
  let failed = 0;
  for (let pos = 0; pos < response.length;) {
    const key = response[pos++] as number;
    if (key === 0x0a) {
      let length = 0;
      for (let shift = 0; ; shift += 7) {
        const b = response[pos++] as number;
        length += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
      }
      pos += length;
      results++;
    } else if (key === 0x10) {
      for (let shift = 0; ; shift += 7) {
        const b = response[pos++] as number;
        failed += (b & 0x7f) * 2 ** shift;
        if (b < 0x80) break;
      }
    } else {
      throw new Error(`unexpected field key ${key} in the response`);
    }
  }
  if (failed > 0) console.warn(`  ${failed} events refused`);
  return results - failed;
}

async function main(): Promise<void> {
  const storeDir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const nats = await startNatsServer({ storeDir });
  const nc = await connect({ servers: nats.url });
  const cleanups: (() => Promise<unknown>)[] = [
    () => nc.close(),
    () => nats.stop(),
    async () => rmSync(storeDir, { recursive: true, force: true }),
  ];
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const et: CompiledEventType = {
      format: CONFIG_FORMAT,
      namespace: 'bench',
      name: 'order-created',
      generation: 1,
      type: TYPE,
      schema: SCHEMA,
      schemaDigest: createHash('sha256').update(JSON.stringify(SCHEMA)).digest('hex'),
      dataContentType: 'application/json',
      deprecated: false,
      stream: streamNameFor('bench', 'order-created'),
      subject: subjectFor('bench', 'order-created'),
    };
    await jsm.streams.add({ name: et.stream, subjects: [et.subject], duplicate_window: 120e9 });
    await writeCompiledConfig(await openConfigBucket(js), {
      eventTypes: [et],
      producers: [
        {
          format: CONFIG_FORMAT,
          namespace: 'bench',
          name: 'acme',
          generation: 1,
          eventTypes: [et.name],
          sources: ['https://acme.example/*'],
          apiKeyHashes: [hashApiKey(API_KEY)],
        },
      ],
      subscriptions: [],
    });
    const eventBytes = encodeProtobuf(buildEvent()).length;

    // 0. bare grpc-js: same method path, same client, no work behind it
    const bare = new grpc.Server();
    const receipt = Buffer.from([0x0a, 0x01, 0x78, 0x20, 0x01]); // {id: "x", sequence: 1}
    bare.addService(
      {
        Publish: {
          path: Path.Publish,
          requestStream: false,
          responseStream: false,
          requestSerialize: passBytes,
          requestDeserialize: passBytes,
          responseSerialize: passBytes,
          responseDeserialize: passBytes,
        },
      },
      {
        Publish: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, receipt),
      },
    );
    const barePort = await new Promise<number>((resolve, reject) =>
      bare.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) =>
        err === null ? resolve(port) : reject(err),
      ),
    );
    cleanups.unshift(async () => bare.forceShutdown());
    const bareClients = createClients(barePort);
    cleanups.unshift(async () => bareClients.forEach((c) => c.close()));
    const bareRate = await measure(CONCURRENCY, async (loop) => {
      const client = bareClients[loop % CHANNELS] as grpc.Client;
      await unary(client, Path.Publish, encodeProtobuf(buildEvent()));
      return 1;
    });

    // 1. raw JetStream publish with msg id
    const payload = new TextEncoder().encode(DATA);
    let raw = 0;
    const jsRate = await measure(CONCURRENCY, async () => {
      const id = `raw-${raw++}`;
      await js.publish(et.subject, payload, { msgID: messageIdFor('bench', 'raw', id) });
      return 1;
    });

    const broker = await startBroker({
      natsUrl: nats.url,
      httpPort: 0,
      grpcPort: 0,
      host: '127.0.0.1',
      logger: createSilentLogger(),
    });
    cleanups.unshift(() => broker.stop());
    const clients = createClients(broker.grpcPort as number);
    cleanups.unshift(async () => clients.forEach((c) => c.close()));
    const clientOf = (loop: number): grpc.Client => clients[loop % CHANNELS] as grpc.Client;

    // 2. unary Publish
    const unaryRate = await measure(CONCURRENCY, async (loop) => {
      await unary(clientOf(loop), Path.Publish, encodeProtobuf(buildEvent()));
      return 1;
    });

    // 3. PublishStream: a 1 s warm-up round, then one stream per loop for the whole run.
    await Promise.all(Array.from({ length: STREAMS }, (_, i) => streamFor(clientOf(i), 1000)));
    const measuredStart = performance.now();
    const streamed = await Promise.all(
      Array.from({ length: STREAMS }, (_, i) => streamFor(clientOf(i), SECONDS * 1000)),
    );
    const streamRate =
      streamed.reduce((a, b) => a + b, 0) / ((performance.now() - measuredStart) / 1000);

    // 4. PublishBatch of 100
    const batchRate = await measure(CHANNELS, async (loop) => {
      const events = Array.from({ length: BATCH }, buildEvent);
      await unary(clientOf(loop), Path.PublishBatch, encodeProtobufBatch(events));
      return BATCH;
    });

    const fmt = (r: number): string => `${Math.round(r).toLocaleString('en-US')}/s`;
    const cpu = cpus();
    console.log(`command: npx tsx bench/grpc.ts ${process.argv.slice(2).join(' ')}`.trimEnd());
    console.log(
      `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, node ${process.version}, ` +
        `${process.platform}/${process.arch}`,
    );
    console.log(
      `gRPC ingest bench: ${SECONDS}s per run, concurrency ${CONCURRENCY}, ${CHANNELS} channels, ` +
        `${STREAMS} streams, event ${eventBytes} B protobuf (data ${DATA.length} B JSON)`,
    );
    console.log(`  bare grpc-js unary            ${fmt(bareRate)}`);
    console.log(`  raw JetStream publish         ${fmt(jsRate)}`);
    console.log(
      `  gRPC Publish (unary)          ${fmt(unaryRate)}  ×${(unaryRate / jsRate).toFixed(2)} raw, ` +
        `×${(unaryRate / bareRate).toFixed(2)} bare grpc-js`,
    );
    console.log(
      `  gRPC PublishStream            ${fmt(streamRate)}  ×${(streamRate / jsRate).toFixed(2)} raw`,
    );
    console.log(
      `  gRPC PublishBatch (${BATCH})      ${fmt(batchRate)}  ×${(batchRate / jsRate).toFixed(2)} raw`,
    );
    console.log(`  stream / unary                ×${(streamRate / unaryRate).toFixed(2)}`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

await main();

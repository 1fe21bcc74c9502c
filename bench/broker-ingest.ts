/**
 * Single-event ingest rate of the broker against this machine's ceilings, in one run:
 *   1. a bare node:http server that reads the body and answers 202 (the HTTP ceiling),
 *   2. raw JetStream publishes with a msg id from Node (the store ceiling),
 *   3. the broker (binary mode, schema-checked ~1 KiB event, API key, dedup id).
 * The HTTP load generator is undici with a fixed number of connections, each sending its
 * next request as soon as the previous answer arrives.
 *
 *   npx tsx bench/broker-ingest.ts [--seconds 5] [--concurrency 64]
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { Pool } from 'undici';
import { startBroker } from '../broker/main.js';
import { startNatsServer } from '../cli/nats-server-process.js';
import { openConfigBucket, writeCompiledConfig } from '../core/config/kv.js';
import { CONFIG_FORMAT, type CompiledEventType } from '../core/config/model.js';
import { hashApiKey } from '../core/config/seal.js';
import { createSilentLogger } from '../core/logging.js';
import { messageIdFor, streamNameFor, subjectFor } from '../core/topology.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
  },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
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

/** Sends requests on `CONCURRENCY` loops for `SECONDS`; returns completed requests per second. */
async function measureHttp(
  url: string,
  makeHeaders: (n: number) => Record<string, string>,
  expectStatus: number,
): Promise<number> {
  const pool = new Pool(url, { connections: CONCURRENCY, pipelining: 1 });
  let n = 0;
  let done = 0;
  let failures = 0;
  const run = async (until: number, count: boolean): Promise<void> => {
    while (performance.now() < until) {
      const res = await pool.request({
        path: '/events',
        method: 'POST',
        headers: makeHeaders(n++),
        body: DATA,
      });
      await res.body.dump();
      if (res.statusCode !== expectStatus) failures++;
      if (count) done++;
    }
  };
  // Warm-up: JIT, connections, schema compile.
  const warm = performance.now() + 1000;
  await Promise.all(Array.from({ length: CONCURRENCY }, () => run(warm, false)));
  const start = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, () => run(start + SECONDS * 1000, true)));
  const rate = done / ((performance.now() - start) / 1000);
  await pool.close();
  if (failures > 0) console.warn(`  ${failures} responses had an unexpected status`);
  return rate;
}

async function main(): Promise<void> {
  const storeDir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const nats = await startNatsServer({ storeDir });
  const nc = await connect({ servers: nats.url });
  // Run in order; later resources are unshifted so they stop first.
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
      type: 'com.example.order.created',
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

    // 1. bare node:http
    const bare = createServer((req, res) => {
      req.on('data', () => {});
      req.on('end', () => {
        const body = '{"id":"x","source":"s","type":"t","sequence":1,"duplicate":false}';
        res.writeHead(202, { 'content-type': 'application/json', 'content-length': body.length });
        res.end(body);
      });
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    cleanups.unshift(() => new Promise((r) => bare.close(r)));
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
    const bareRate = await measureHttp(
      bareUrl,
      () => ({ 'content-type': 'application/json' }),
      202,
    );

    // 2. raw JetStream publish with msg id, same concurrency
    const payload = new TextEncoder().encode(DATA);
    let seq = 0;
    const publishLoop = async (until: number): Promise<number> => {
      let count = 0;
      while (performance.now() < until) {
        const id = `raw-${seq++}`;
        await js.publish(et.subject, payload, { msgID: messageIdFor('bench', 'raw', id) });
        count++;
      }
      return count;
    };
    await Promise.all(
      Array.from({ length: CONCURRENCY }, () => publishLoop(performance.now() + 1000)),
    );
    const jsStart = performance.now();
    const counts = await Promise.all(
      Array.from({ length: CONCURRENCY }, () => publishLoop(jsStart + SECONDS * 1000)),
    );
    const jsRate = counts.reduce((a, b) => a + b, 0) / ((performance.now() - jsStart) / 1000);

    // 3. the broker
    const broker = await startBroker({
      natsUrl: nats.url,
      httpPort: 0,
      host: '127.0.0.1',
      logger: createSilentLogger(),
    });
    cleanups.unshift(() => broker.stop());
    const brokerRate = await measureHttp(
      `http://127.0.0.1:${broker.port}`,
      (n) => ({
        'content-type': 'application/json',
        authorization: `Bearer ${API_KEY}`,
        'ce-specversion': '1.0',
        'ce-id': `bench-${n}`,
        'ce-source': 'https://acme.example/bench',
        'ce-type': et.type,
      }),
      202,
    );

    const fmt = (r: number): string => `${Math.round(r).toLocaleString('en-US')}/s`;
    console.log(
      `broker ingest bench: ${SECONDS}s per run, concurrency ${CONCURRENCY}, data ${DATA.length} B`,
    );
    console.log(`  bare node:http 202        ${fmt(bareRate)}`);
    console.log(`  raw JetStream publish     ${fmt(jsRate)}`);
    console.log(`  broker POST /events       ${fmt(brokerRate)}`);
    console.log(`  broker / bare http        ${(brokerRate / bareRate).toFixed(2)}`);
    console.log(`  broker / raw JetStream    ${(brokerRate / jsRate).toFixed(2)}`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

await main();

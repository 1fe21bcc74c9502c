/**
 * HTTP ingest rates of the broker against this machine's ceilings, in one run on one
 * nats-server. Every event is ~1 KiB, schema-checked, API-key authenticated, deduplicated by
 * msg id and acknowledged by JetStream before the 202.
 *
 * Part A, rates (the figures the targets are judged on): the load generator and the server
 * share this process, as in the walking-skeleton bench, so both sides of a ratio pay the same
 * load-generator cost and no cross-process wake-ups (which swing ±50% between runs on this VM).
 * The runs are repeated in `--rounds` interleaved rounds and the medians reported, since this
 * machine's speed drifts by ±20% over minutes:
 *   1. a bare node:http server that reads the body and answers 202 (the HTTP ceiling),
 *   2. raw JetStream publishes with a msg id from Node (`js.publish`, 64 in flight), and the
 *      JetStream ceiling: plain nats.js async publishes of the messages the broker stores
 *      (same bytes, same headers, a `Nats-Msg-Id` each, into the same file-storage stream),
 *      1,000 awaiting their PubAck, counted by one reply subscription; no Herald code,
 *   3. the broker, single events in structured mode (`application/cloudevents+json`),
 *   4. the same events in binary mode (`ce-*` headers; the walking-skeleton figure),
 *   5. the same events batched, `--batch` per request (`application/cloudevents-batch+json`),
 *      in events per second.
 * Every run also reads nats-server's CPU time (/proc/<pid>/stat, Linux) for its CPU per stored
 * event: what the store costs on these cores whoever publishes.
 * Part B, cost and memory: the bare server and the broker each in a child process of their
 * own (bench/ingest-target.ts) under the same loads, reporting the child's CPU per event and
 * its RSS (`process.memoryUsage()` of the server process, sampled every 250 ms).
 * The load generator is undici with a fixed number of connections, each sending its next
 * request as soon as the previous answer arrives; each connection's body is built once and
 * given fresh event ids in place (BodyWithFreshIds). nats-server shares the machine's cores.
 *
 *   npx tsx bench/broker-ingest.ts [--seconds 5] [--concurrency 64] [--batch 100]
 *                                  [--batch-concurrency 8] [--rounds 3] [--cpu-prof DIR]
 *
 * `--cpu-prof DIR` runs the part-B broker child with `node --cpu-prof`, profile into DIR.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, createInbox, headers as natsHeaders } from '@nats-io/transport-node';
import { Pool } from 'undici';
import { startNatsServer } from '../cli/nats-server-process.js';
import { openConfigBucket, writeCompiledConfig } from '../core/config/kv.js';
import { CONFIG_FORMAT, type CompiledEventType } from '../core/config/model.js';
import { hashApiKey } from '../core/config/seal.js';
import { PRODUCER_HEADER, STORED_CONTENT_TYPE } from '../broker/ingest.js';
import { messageIdFor, streamNameFor, subjectFor } from '../core/topology.js';
import { cpuMicrosOf } from './process-cpu.js';
import {
  startBareServer,
  startBenchBroker,
  type RunningTarget,
  type TargetUsage,
} from './ingest-target.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '64' },
    batch: { type: 'string', default: '100' },
    'batch-concurrency': { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const CONCURRENCY = Number(values.concurrency);
const BATCH = Number(values.batch);
const BATCH_CONCURRENCY = Number(values['batch-concurrency']);
const ROUNDS = Number(values.rounds);
const API_KEY = 'bench-key-0123456789abcdef';
const TYPE = 'com.example.order.created';
const SOURCE = 'https://acme.example/bench';
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

let eventNumber = 0;
/** Event ids end in a counter of fixed width, so a body's ids can be rewritten in place. */
const ID_DIGITS = 12;
const ID_SLOT = '#'.repeat(ID_DIGITS);
/** A structured event (JSON format text) whose id ends in ID_SLOT. */
const EVENT_TEMPLATE =
  `{"specversion":"1.0","id":"bench-${process.pid}-${ID_SLOT}","source":"${SOURCE}",` +
  `"type":"${TYPE}","time":"2026-11-24T10:00:00.000Z","datacontenttype":"application/json",` +
  `"data":${DATA}}`;

/** The next unique event id's counter, as ID_DIGITS ASCII digits written into `bytes` at `at`. */
function writeNextId(bytes: Buffer, at: number): void {
  let n = eventNumber++;
  for (let k = at + ID_DIGITS - 1; k >= at; k--) {
    bytes[k] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
}

/**
 * A request body built once per connection, each request's event ids written into it in
 * place. Building 100 KiB of fresh strings per batch request cost the load generator ~4.6 µs
 * per event (more than parsing one in the broker), in the thread the server shares in part
 * A; the server gets the same bytes as before, every event with an id of its own. A
 * connection rewrites its buffer only once the previous request was answered (so read whole).
 */
class BodyWithFreshIds {
  private readonly bytes: Buffer;
  private readonly slots: number[] = [];
  constructor(text: string) {
    this.bytes = Buffer.from(text);
    for (let at = this.bytes.indexOf(ID_SLOT); at !== -1; at = this.bytes.indexOf(ID_SLOT, at)) {
      this.slots.push(at);
      at += ID_DIGITS;
    }
  }
  next(): Buffer {
    for (const at of this.slots) writeNextId(this.bytes, at);
    return this.bytes;
  }
}

const AUTH = `Bearer ${API_KEY}`;

interface Request {
  headers: Record<string, string>;
  body: string | Buffer;
  /** Events the request carries (what a 202 counts). */
  events: number;
}

/** Makes one connection's requests: each loop calls it once, then the result per request. */
type Load = () => () => Request;

const single: Load = () => {
  const body = new BodyWithFreshIds(EVENT_TEMPLATE);
  const headers = { 'content-type': 'application/cloudevents+json', authorization: AUTH };
  return () => ({ headers, body: body.next(), events: 1 });
};
const DATA_BYTES = Buffer.from(DATA);
const binary: Load = () => () => ({
  headers: {
    'content-type': 'application/json',
    authorization: AUTH,
    'ce-specversion': '1.0',
    'ce-id': `bench-${process.pid}-b${eventNumber++}`,
    'ce-source': SOURCE,
    'ce-type': TYPE,
    'ce-time': '2026-11-24T10:00:00.000Z',
  },
  body: DATA_BYTES,
  events: 1,
});
const BATCH_TEMPLATE = `[${Array.from({ length: BATCH }, () => EVENT_TEMPLATE).join(',')}]`;
const batch: Load = () => {
  const body = new BodyWithFreshIds(BATCH_TEMPLATE);
  const headers = { 'content-type': 'application/cloudevents-batch+json', authorization: AUTH };
  return () => ({ headers, body: body.next(), events: BATCH });
};

/** A server under test, in this process or in a child. */
interface Target {
  url: string;
  /** Undefined in this process: its usage would include the load generator's. */
  usage?: () => Promise<TargetUsage>;
  stop(): Promise<void>;
}

/** nats-server's pid, once started: every measurement reads its CPU time too. */
let storePid = 0;

/** nats-server's CPU while a measurement ran: per stored event (µs) and in cores. */
interface StoreCost {
  microsPerEvent: number;
  cores: number;
}

/** Starts reading nats-server's CPU; the returned function ends the reading. */
function readStoreCost(): (events: number, seconds: number) => StoreCost | undefined {
  const before = cpuMicrosOf(storePid);
  return (events, seconds) => {
    const after = cpuMicrosOf(storePid);
    if (before === undefined || after === undefined) return undefined;
    return {
      microsPerEvent: (after - before) / Math.max(1, events),
      cores: (after - before) / 1e6 / seconds,
    };
  };
}

interface Measured {
  /** Events per second (requests per second for single-event requests). */
  rate: number;
  /** CPU of this process while the load ran, in cores. */
  ownCores: number;
  /** nats-server's CPU meanwhile. */
  store?: StoreCost;
  /** For a child target: its CPU (cores, µs per event) and RSS while the load ran. */
  child?: {
    cores: number;
    microsPerEvent: number;
    rssPeak: number;
    rssMean: number;
    heapPeak: number;
  };
}

/**
 * Sends requests on `connections` loops for `SECONDS` after a 1 s warm-up; events stored
 * (202s × events per request) per second, and what the target used meanwhile.
 */
async function measureHttp(target: Target, connections: number, load: Load): Promise<Measured> {
  const pool = new Pool(target.url, { connections, pipelining: 1 });
  let done = 0;
  let failures = 0;
  let lastFailure = '';
  const run = async (until: number, count: boolean): Promise<void> => {
    const makeRequest = load();
    while (performance.now() < until) {
      const { headers, body, events } = makeRequest();
      const res = await pool.request({ path: '/events', method: 'POST', headers, body });
      if (res.statusCode === 202) {
        await res.body.dump();
        if (count) done += events;
      } else {
        failures++;
        lastFailure = `${res.statusCode} ${(await res.body.text()).slice(0, 300)}`;
      }
    }
  };
  // Warm-up: JIT, connections, schema compile.
  const warm = performance.now() + 1000;
  await Promise.all(Array.from({ length: connections }, () => run(warm, false)));
  const usage = target.usage;
  const before = await usage?.();
  const ownBefore = process.cpuUsage();
  const storeCost = readStoreCost();
  const start = performance.now();
  const until = start + SECONDS * 1000;
  const sampling = (async (): Promise<TargetUsage[]> => {
    const samples: TargetUsage[] = [];
    while (usage !== undefined && performance.now() + 250 < until) {
      await new Promise((r) => setTimeout(r, 250));
      samples.push(await usage());
    }
    return samples;
  })();
  await Promise.all(Array.from({ length: connections }, () => run(until, true)));
  const seconds = (performance.now() - start) / 1000;
  const own = process.cpuUsage(ownBefore);
  const store = storeCost(done, seconds);
  const after = await usage?.();
  await pool.close();
  if (failures > 0) console.warn(`  ${failures} requests failed; last: ${lastFailure}`);
  const measured: Measured = {
    rate: done / seconds,
    ownCores: (own.user + own.system) / 1e6 / seconds,
    store,
  };
  if (before !== undefined && after !== undefined) {
    const samples = [...(await sampling), after];
    const micros = after.cpuMicros - before.cpuMicros;
    measured.child = {
      cores: micros / 1e6 / seconds,
      microsPerEvent: micros / Math.max(1, done),
      rssPeak: Math.max(...samples.map((s) => s.rss)),
      rssMean: samples.reduce((a, s) => a + s.rss, 0) / samples.length,
      heapPeak: Math.max(...samples.map((s) => s.heapUsed)),
    };
  }
  return measured;
}

function inProcess(running: RunningTarget): Target {
  return { url: `http://127.0.0.1:${running.port}`, stop: () => running.stop() };
}

/** Forks bench/ingest-target.ts with `args`; resolves once it listens. */
async function startChild(args: string[], execArgv: string[] = []): Promise<Target> {
  const child = fork(new URL('./ingest-target.ts', import.meta.url), args, {
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number }));
    child.once('exit', (code) => reject(new Error(`bench target exited with ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    usage: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m as TargetUsage));
        child.send('usage');
      }),
    async stop() {
      if (child.exitCode === null && child.connected) child.send('stop');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const storeDir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const nats = await startNatsServer({ storeDir });
  storePid = nats.pid;
  const nc = await connect({ servers: nats.url });
  // Run in order; later resources are unshifted so they stop first.
  const cleanups: (() => Promise<unknown>)[] = [
    () => nc.close(),
    () => nats.stop(),
    async () => rmSync(storeDir, { recursive: true, force: true }),
  ];
  /** Starts a target and registers its stop; `run` measures with it, then it stops. */
  const using = async <T>(start: Promise<Target>, run: (t: Target) => Promise<T>): Promise<T> => {
    const target = await start;
    cleanups.unshift(() => target.stop());
    try {
      return await run(target);
    } finally {
      await target.stop();
    }
  };
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
    // A fresh stream per run: each starts with an empty store and dedup window, whatever ran
    // before it (nats-server slows down as its dedup map fills).
    const resetStream = async (): Promise<void> => {
      await jsm.streams.delete(et.stream).catch(() => {});
      await jsm.streams.add({ name: et.stream, subjects: [et.subject], duplicate_window: 120e9 });
    };
    await resetStream();
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
    const eventBytes = Buffer.byteLength(EVENT_TEMPLATE);
    const batchBytes = Buffer.byteLength(BATCH_TEMPLATE);

    // Part A: rates, load generator and server in this process, in interleaved rounds.
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
    const measureRaw = async (): Promise<number> => {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, () => publishLoop(performance.now() + 1000)),
      );
      const start = performance.now();
      const counts = await Promise.all(
        Array.from({ length: CONCURRENCY }, () => publishLoop(start + SECONDS * 1000)),
      );
      return counts.reduce((a, b) => a + b, 0) / ((performance.now() - start) / 1000);
    };
    /**
     * The JetStream ceiling: what nats-server stores here from a plain nats.js client, no
     * Herald code — async publishes (core publish with a reply subject, as `js.publish` sends
     * them, without its promise and timer per message), CEILING_WINDOW awaiting their PubAck,
     * each the bytes and headers the broker stores (a structured event, `Herald-Producer`,
     * `Content-Type`, a `Nats-Msg-Id` made as the broker makes it).
     */
    const CEILING_WINDOW = 1000;
    const measureCeiling = async (): Promise<Measured> => {
      const body = new BodyWithFreshIds(EVENT_TEMPLATE).next();
      const h = natsHeaders();
      h.set(PRODUCER_HEADER, 'bench/acme');
      h.set('Content-Type', STORED_CONTENT_TYPE);
      const replyTo = createInbox();
      let stored = 0;
      let failed = 0;
      let inFlight = 0;
      let until = 0;
      let finished: () => void = () => {};
      const send = (): void => {
        h.set('Nats-Msg-Id', messageIdFor('bench', SOURCE, `ceiling-${seq++}`));
        nc.publish(et.subject, body, { reply: replyTo, headers: h });
        inFlight++;
      };
      const sub = nc.subscribe(replyTo, {
        callback: (_err, msg) => {
          inFlight--;
          // A PubAck starts `{"stream"`; anything else is an error or a no-responders status.
          if (msg.data.length > 2 && msg.data[2] === 0x73 /* s */) stored++;
          else failed++;
          if (performance.now() < until) send();
          else if (inFlight === 0) finished();
        },
      });
      const run = (ms: number): Promise<void> =>
        new Promise((resolve) => {
          finished = resolve;
          until = performance.now() + ms;
          for (let i = 0; i < CEILING_WINDOW; i++) send();
        });
      await run(1000); // warm-up
      stored = 0;
      const storeCost = readStoreCost();
      const own = process.cpuUsage();
      const start = performance.now();
      await run(SECONDS * 1000);
      const seconds = (performance.now() - start) / 1000;
      const ownUsed = process.cpuUsage(own);
      sub.unsubscribe();
      if (failed > 0) console.warn(`  ceiling: ${failed} publishes not stored`);
      return {
        rate: stored / seconds,
        ownCores: (ownUsed.user + ownUsed.system) / 1e6 / seconds,
        store: storeCost(stored, seconds),
      };
    };
    const bareServer = await startBareServer();
    cleanups.unshift(() => bareServer.stop());
    const brokerServer = await startBenchBroker(nats.url);
    cleanups.unshift(() => brokerServer.stop());
    const rounds: {
      bare: Measured;
      raw: number;
      ceiling: Measured;
      single: Measured;
      binary: Measured;
      batch: Measured;
    }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const bare = await measureHttp(inProcess(bareServer), CONCURRENCY, single);
      await resetStream();
      const raw = await measureRaw();
      await resetStream();
      const ceiling = await measureCeiling();
      await resetStream();
      const s = await measureHttp(inProcess(brokerServer), CONCURRENCY, single);
      await resetStream();
      const b = await measureHttp(inProcess(brokerServer), CONCURRENCY, binary);
      await resetStream();
      const m = await measureHttp(inProcess(brokerServer), BATCH_CONCURRENCY, batch);
      rounds.push({ bare, raw, ceiling, single: s, binary: b, batch: m });
    }
    await brokerServer.stop();
    await bareServer.stop();

    // Part B: the server in a child process of its own.
    const bareB = await using(startChild(['bare']), (t) => measureHttp(t, CONCURRENCY, single));
    const profileDir = values['cpu-prof'];
    const profile = profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', profileDir];
    const [idleB, singleB, batchB] = await using(
      startChild(['broker', nats.url], profile),
      async (t) => {
        const idle = await (t.usage as () => Promise<TargetUsage>)();
        await resetStream();
        const s = await measureHttp(t, CONCURRENCY, single);
        await resetStream();
        return [idle, s, await measureHttp(t, BATCH_CONCURRENCY, batch)] as const;
      },
    );

    const rate = (r: number): string => `${Math.round(r).toLocaleString('en-US')}/s`.padStart(9);
    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    const median = (xs: number[]): number => {
      const sorted = [...xs].sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length / 2)] ?? 0;
    };
    const cpu = cpus();
    console.log(
      `command: npx tsx bench/broker-ingest.ts ${process.argv.slice(2).join(' ')}`.trimEnd(),
    );
    console.log(
      `machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${mib(totalmem())} RAM, ` +
        `node ${process.version}, ${process.platform}/${process.arch}`,
    );
    console.log(
      `${SECONDS} s per run after 1 s warm-up; ${CONCURRENCY} connections (batches: ` +
        `${BATCH_CONCURRENCY}); event ${eventBytes} B structured (data ${DATA.length} B), ` +
        `batch ${BATCH} events ${(batchBytes / 1024).toFixed(0)} KiB`,
    );
    console.log(
      `A. rates, load generator and server in one process; ${ROUNDS} interleaved rounds ` +
        '(each: bare, raw, ceiling, structured, binary, batch), per round and median',
    );
    const row = (
      label: string,
      pick: (r: (typeof rounds)[number]) => number,
      format: 'rate' | 'ratio' | 'micros' = 'rate',
    ) => {
      const xs = rounds.map(pick);
      const show = (x: number): string =>
        format === 'rate'
          ? rate(x)
          : format === 'ratio'
            ? x.toFixed(2).padStart(9)
            : `${x.toFixed(1)} µs`.padStart(9);
      console.log(`  ${label.padEnd(34)} ${xs.map(show).join(' ')}   median ${show(median(xs))}`);
    };
    row('bare node:http 202', (r) => r.bare.rate);
    row('raw JetStream publish with msg id', (r) => r.raw);
    row(`JetStream ceiling, ${CEILING_WINDOW} in flight`, (r) => r.ceiling.rate);
    row('broker structured, 1 per request', (r) => r.single.rate);
    row('broker binary, 1 per request', (r) => r.binary.rate);
    row(`broker batch of ${BATCH}, events/s`, (r) => r.batch.rate);
    row('structured / bare http', (r) => r.single.rate / r.bare.rate, 'ratio');
    row('binary / bare http', (r) => r.binary.rate / r.bare.rate, 'ratio');
    row('structured / raw JetStream', (r) => r.single.rate / r.raw, 'ratio');
    row('batch / structured single', (r) => r.batch.rate / r.single.rate, 'ratio');
    row('batch / JetStream ceiling', (r) => r.batch.rate / r.ceiling.rate, 'ratio');
    row('5 × single / JetStream ceiling', (r) => (5 * r.single.rate) / r.ceiling.rate, 'ratio');
    row('this process, cores (structured)', (r) => r.single.ownCores, 'ratio');
    row('this process, cores (batch)', (r) => r.batch.ownCores, 'ratio');
    row('this process, cores (ceiling)', (r) => r.ceiling.ownCores, 'ratio');
    // What the store itself costs: nats-server's CPU per stored event and in cores.
    row(
      'nats-server µs/event (ceiling)',
      (r) => r.ceiling.store?.microsPerEvent ?? Number.NaN,
      'micros',
    );
    row(
      'nats-server µs/event (batch)',
      (r) => r.batch.store?.microsPerEvent ?? Number.NaN,
      'micros',
    );
    row(
      'nats-server µs/event (structured)',
      (r) => r.single.store?.microsPerEvent ?? Number.NaN,
      'micros',
    );
    row('nats-server cores (ceiling)', (r) => r.ceiling.store?.cores ?? Number.NaN, 'ratio');
    row('nats-server cores (batch)', (r) => r.batch.store?.cores ?? Number.NaN, 'ratio');
    console.log('B. server in a child process: its CPU per event and its RSS');
    const lineB = (label: string, m: Measured): void => {
      const c = m.child;
      if (c === undefined) return;
      console.log(
        `  ${label.padEnd(34)} ${rate(m.rate)}   server ${c.cores.toFixed(2)} cores, ` +
          `${c.microsPerEvent.toFixed(1)} µs/event; load gen ${m.ownCores.toFixed(2)} cores; ` +
          `RSS peak ${mib(c.rssPeak)}, mean ${mib(c.rssMean)}, heap peak ${mib(c.heapPeak)}` +
          (m.store === undefined
            ? ''
            : `; nats-server ${m.store.microsPerEvent.toFixed(1)} µs/event`),
      );
    };
    lineB('bare node:http 202', bareB);
    lineB('broker structured, 1 per request', singleB);
    lineB(`broker batch of ${BATCH}, events/s`, batchB);
    console.log(`  broker RSS idle after start        ${mib(idleB.rss)}`);
  } finally {
    for (const cleanup of cleanups) await cleanup().catch(() => {});
  }
}

await main();

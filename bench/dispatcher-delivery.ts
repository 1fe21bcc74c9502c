/**
 * Dispatcher delivery (issue 4 item 13), all on this machine, in one run:
 *   npx tsx bench/dispatcher-delivery.ts [--events 20000] [--in-flight 32] [--rounds 3]
 *          [--latency-seconds 10] [--warmup-seconds 3] [--rate 1000] [--subscriptions 1000]
 *          [--references ledger,journal,floor] [--from-source]
 * The dispatcher is the built CLI (`npm run build` runs first; `node dist/cli/herald.js
 * dispatcher`), as installed; --from-source runs it through tsx instead.
 * 1. Rate: N signed 1 KiB events wait in a subscription's consumer; `herald dispatcher` (a
 *    child process, ledger and attempt log on) delivers them to a sink process answering 204
 *    with maxInFlight C. Baseline, same round: a bare Node client (undici Pool, C
 *    connections, C requests in flight) posts the same bodies to the same sink, after one
 *    unmeasured pass. Reported: events/s from the sink's first to last receipt, the ratio,
 *    and the CPU time per event of every process involved (/proc/<pid>/stat). The same
 *    stored events are also delivered by each of --references, reference loops with no Herald
 *    code (bench/naive-dispatcher.ts: Herald's JetStream operations; a journal per turn;
 *    POST and ack only), to show what the JetStream operations alone cost here.
 * 2. Latency: events sent to the broker (in this process) at --rate per second; for each, the
 *    time from the broker's 202 to the sink's receipt (both clocks are this machine's). p50/p99
 *    after --warmup-seconds at that rate, which are reported apart (a fresh process's JIT).
 * 3. Memory: the dispatcher's RSS with --subscriptions subscriptions running (idle).
 * Figures, not assertions. The sink runs in its own process (`--role sink`).
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { Pool } from 'undici';
import { startBroker } from '../broker/main.js';
import { generateConfigKey, parseConfigKey } from '../core/config/seal.js';
import { createLogger } from '../core/logging.js';
import { streamNameFor } from '../core/topology.js';
import { startOperator } from '../operator/main.js';
import { startTestNatsServer } from '../test/support/nats-server.js';
import {
  REPO_ROOT,
  findFreePort,
  spawnBuiltHerald,
  spawnHerald,
  type HeraldProcess,
} from '../test/support/processes.js';
import { cpuMicrosOf } from './process-cpu.js';

const flag = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  const v = at === -1 ? undefined : Number(process.argv[at + 1]);
  return v !== undefined && Number.isFinite(v) && v > 0 ? v : fallback;
};

function ask<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as T));
    child.send({ cmd });
  });
}

interface SinkStats {
  count: number;
  first: number;
  last: number;
  receipts: [string, number][];
}

async function waitForCount(
  sink: ChildProcess,
  n: number,
  timeoutMs = 300_000,
): Promise<SinkStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await ask<SinkStats>(sink, 'stats');
    if (s.count >= n) return s;
    if (Date.now() > deadline) throw new Error(`sink got ${s.count} of ${n}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until process `pid` has used no CPU for `quietMs` (a child done starting up). */
async function waitUntilIdle(pid: number, quietMs = 500, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let before = cpuMicrosOf(pid);
  for (;;) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not go idle`);
    await new Promise((r) => setTimeout(r, quietMs));
    const now = cpuMicrosOf(pid);
    if (now === undefined || now === before) return;
    before = now;
  }
}

/** CPU µs used by each pid (and this process) between start() and the returned stop(). */
function measureCpu(pids: Record<string, number>): () => Record<string, number> {
  const self0 = process.cpuUsage();
  const start = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuMicrosOf(pid)]));
  return () => {
    const self = process.cpuUsage(self0);
    const used: Record<string, number> = { bench: self.user + self.system };
    for (const [k, pid] of Object.entries(pids))
      used[k] = (cpuMicrosOf(pid) ?? NaN) - (start[k] ?? NaN);
    return used;
  };
}

const rssOf = (pid: number): number =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024;
const mib = (b: number): string => `${(b / 1048576).toFixed(0)} MiB`;
const pct = (s: number[], p: number): number =>
  s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;

function resources(
  sinkUrl: string,
  subscriptions: number,
  inFlight: number,
  paused: boolean,
): string {
  const docs = [
    `apiVersion: herald.dev/v1alpha1
kind: EventType
metadata: { name: order-created, namespace: bench }
spec:
  type: com.example.order.created
  schema: { type: object, required: [orderId], properties: { orderId: { type: string }, pad: { type: string } } }
  retention: { maxAge: 1h }`,
    `apiVersion: herald.dev/v1alpha1
kind: Producer
metadata: { name: loader, namespace: bench }
spec:
  eventTypes: [order-created]
  auth: { apiKeys: [{ secretRef: { name: creds, key: api-key } }] }`,
    `apiVersion: v1
kind: Secret
metadata: { name: creds, namespace: bench }
stringData: { api-key: bench-api-key-0123456789, secret: 'whsec_${randomBytes(32).toString('base64')}' }`,
  ];
  for (let i = 0; i < subscriptions; i++) {
    docs.push(`apiVersion: herald.dev/v1alpha1
kind: Subscription
metadata: { name: sub-${i}, namespace: bench }
spec:
  eventTypes: [order-created]
  sink: { uri: '${sinkUrl}' }
  delivery: { maxInFlight: ${inFlight}, signing: { secretRef: { name: creds, key: secret } } }
  paused: ${paused}`);
  }
  return docs.join('\n---\n');
}

const body = (id: string): string =>
  JSON.stringify({
    specversion: '1.0',
    id,
    source: 'https://bench.example/orders',
    type: 'com.example.order.created',
    datacontenttype: 'application/json',
    data: { orderId: id, pad: 'x'.repeat(850) },
  });

async function main(): Promise<void> {
  const EVENTS = flag('events', 20_000);
  const IN_FLIGHT = flag('in-flight', 32);
  const ROUNDS = flag('rounds', 3);
  const LAT_SECONDS = flag('latency-seconds', 10);
  const WARMUP_SECONDS = flag('warmup-seconds', 3);
  const RATE = flag('rate', 1000);
  const SUBSCRIPTIONS = flag('subscriptions', 1000);
  const referencesAt = process.argv.indexOf('--references');
  const REFERENCES = (
    referencesAt === -1 ? 'ledger,journal,floor' : (process.argv[referencesAt + 1] ?? '')
  )
    .split(',')
    .filter((m) => m !== '');
  const progress = (msg: string): boolean => process.stderr.write(`[bench] ${msg}\n`);
  const self = fileURLToPath(import.meta.url);
  const sink = fork(self, ['--role', 'sink'], { execArgv: ['--import', 'tsx'] });
  const sinkPort = await new Promise<number>((r) =>
    sink.once('message', (m) => r((m as { port: number }).port)),
  );
  const sinkUrl = `http://127.0.0.1:${sinkPort}/`;
  progress(`sink on ${sinkUrl}`);
  const nats = await startTestNatsServer();
  const configKeyText = generateConfigKey();
  const configKey = parseConfigKey(configKeyText);
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  const logger = (name: string) => createLogger(name, { level: 'error', destination: quiet });
  writeFileSync(join(dir, 'all.yaml'), resources(sinkUrl, 1, IN_FLIGHT, true));
  const operator = await startOperator({
    natsUrl: nats.url,
    resourcesDir: dir,
    configKey,
    logger: logger('operator'),
    watch: false,
  });
  const httpPort = await findFreePort();
  const broker = await startBroker({
    natsUrl: nats.url,
    httpPort,
    grpcPort: 0,
    logger: logger('broker'),
    configKey,
  });
  progress('operator and broker up');
  const brokerPool = new Pool(`http://127.0.0.1:${httpPort}`, { connections: 64 });
  const headers = {
    'content-type': 'application/cloudevents+json',
    authorization: 'Bearer bench-api-key-0123456789',
  };
  const send = async (id: string): Promise<number> => {
    const res = await brokerPool.request({
      method: 'POST',
      path: '/events',
      headers,
      body: body(id),
    });
    await res.body.dump();
    if (res.statusCode !== 202) throw new Error(`broker answered ${res.statusCode}`);
    return performance.timeOrigin + performance.now();
  };
  const dispatcherArgs = [
    'dispatcher',
    '--nats',
    nats.url,
    '--allow-private-sinks',
    '--metrics-port',
    '0',
    '--log-level',
    'error',
  ];
  // The built CLI, as installed (`npm run build`; `node dist/cli/herald.js`); --from-source
  // runs the TypeScript through tsx instead (its helpers add CPU per call).
  const fromSource = process.argv.includes('--from-source');
  if (!fromSource) {
    execFileSync('npm', ['run', 'build'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  }
  const startDispatcherProcess = (): HeraldProcess =>
    fromSource
      ? spawnHerald(dispatcherArgs, { HERALD_CONFIG_KEY: configKeyText })
      : spawnBuiltHerald(dispatcherArgs, { HERALD_CONFIG_KEY: configKeyText });

  // 1. Rate, alternating with the bare client.
  const herald: number[] = [];
  const bare: number[] = [];
  // CPU µs per delivered event, per process and round.
  const cpuBare: { client: number; sink: number }[] = [];
  const cpuHerald: { dispatcher: number; nats: number; sink: number }[] = [];
  // Per reference loop mode (bench/naive-dispatcher.ts): events/s and CPU per round.
  const reference = new Map<string, number[]>(REFERENCES.map((m) => [m, []]));
  const cpuReference = new Map<string, { loop: number; nats: number; sink: number }[]>(
    REFERENCES.map((m) => [m, []]),
  );
  const natsClient = await nats.connect();
  const jsm = await jetstreamManager(natsClient);
  const eventStream = () => jsm.streams.info(streamNameFor('bench', 'order-created'));
  const bodies = Array.from({ length: EVENTS }, (_, i) => body(`bare-${i}`));
  /** The baseline: the same bodies posted with IN_FLIGHT requests in flight. */
  const postBare = async (): Promise<void> => {
    const pool = new Pool(sinkUrl, { connections: IN_FLIGHT, pipelining: 1 });
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < bodies.length) {
          const b = bodies[next++]!;
          const res = await pool.request({
            method: 'POST',
            path: '/',
            headers: {
              'content-type': 'application/cloudevents+json',
              'webhook-id': 'msg_x',
              'webhook-timestamp': '1',
              'webhook-signature': 'v1,x',
            },
            body: b,
          });
          await res.body.dump();
        }
      }),
    );
    await pool.close();
  };
  /** A reference loop (bench/naive-dispatcher.ts) over this round's stored events. */
  const runReference = async (round: number, startSeq: number, mode: string): Promise<void> => {
    await ask(sink, 'reset');
    const child = fork(
      join(dirname(self), 'naive-dispatcher.ts'),
      [
        ...['--nats', nats.url, '--stream', streamNameFor('bench', 'order-created')],
        ...['--start-seq', String(startSeq), '--count', String(EVENTS)],
        ...['--in-flight', String(IN_FLIGHT), '--sink', sinkUrl],
        ...['--secret', `whsec_${randomBytes(32).toString('base64')}`],
        ...['--mode', mode],
      ],
      { execArgv: ['--import', 'tsx'] },
    );
    const exited = new Promise((r) => child.once('exit', r));
    await Promise.race([
      new Promise((r) => child.once('message', r)),
      exited.then(() => Promise.reject(new Error('the reference loop exited before it was ready'))),
    ]);
    const cpu = measureCpu({ loop: child.pid!, nats: nats.process.pid, sink: sink.pid! });
    child.send({ cmd: 'go' });
    const stats = await waitForCount(sink, EVENTS);
    const used = cpu();
    cpuReference.get(mode)!.push({
      loop: used.loop! / EVENTS,
      nats: used.nats! / EVENTS,
      sink: used.sink! / EVENTS,
    });
    reference.get(mode)!.push((EVENTS - 1) / ((stats.last - stats.first) / 1000));
    await exited;
    progress(`round ${round}: reference loop (${mode}) done`);
  };
  /** `herald dispatcher`, started while the subscription is paused, then resumed. */
  const runHerald = async (round: number): Promise<void> => {
    writeFileSync(join(dir, 'all.yaml'), resources(sinkUrl, 1, IN_FLIGHT, true));
    await operator.applyNow();
    await ask(sink, 'reset');
    const d = startDispatcherProcess();
    await waitUntilIdle(d.child.pid!);
    const cpu = measureCpu({ dispatcher: d.child.pid!, nats: nats.process.pid, sink: sink.pid! });
    writeFileSync(join(dir, 'all.yaml'), resources(sinkUrl, 1, IN_FLIGHT, false));
    await operator.applyNow();
    const stats = await waitForCount(sink, EVENTS);
    const used = cpu();
    cpuHerald.push({
      dispatcher: used.dispatcher! / EVENTS,
      nats: used.nats! / EVENTS,
      sink: used.sink! / EVENTS,
    });
    herald.push((EVENTS - 1) / ((stats.last - stats.first) / 1000));
    progress(`round ${round}: dispatcher done`);
    await d.stop();
    // Paused again: events of the next round wait in its consumer.
    writeFileSync(join(dir, 'all.yaml'), resources(sinkUrl, 1, IN_FLIGHT, true));
    await operator.applyNow();
  };
  // One unmeasured pass first, so the baseline's JIT (and the sink's) is warm in every round.
  await postBare();
  for (let round = 0; round < ROUNDS; round++) {
    await ask(sink, 'reset');
    const bareCpu = measureCpu({ sink: sink.pid! });
    await postBare();
    const b = await waitForCount(sink, EVENTS);
    progress(`round ${round}: bare client done`);
    const bareUsed = bareCpu();
    cpuBare.push({ client: bareUsed.bench! / EVENTS, sink: bareUsed.sink! / EVENTS });
    bare.push((EVENTS - 1) / ((b.last - b.first) / 1000));

    // Paused subscription: the events wait in its consumer.
    writeFileSync(join(dir, 'all.yaml'), resources(sinkUrl, 1, IN_FLIGHT, true));
    await operator.applyNow();
    const startSeq = (await eventStream()).state.last_seq + 1;
    let sent = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (sent < EVENTS) await send(`r${round}-${sent++}`);
      }),
    );
    progress(`round ${round}: ${EVENTS} events stored`);

    // Herald and the reference loops deliver the same stored events, in turns: the order
    // reverses every round (the first one reads what was just written).
    const runs = [
      () => runHerald(round),
      ...REFERENCES.map((mode) => () => runReference(round, startSeq, mode)),
    ];
    for (const run of round % 2 === 0 ? runs : runs.reverse()) await run();
  }

  // 2. Latency at RATE events/s.
  writeFileSync(join(dir, 'all.yaml'), resources(sinkUrl, 1, IN_FLIGHT, false));
  await operator.applyNow();
  await ask(sink, 'reset');
  const d = startDispatcherProcess();
  // Warm up until the dispatcher delivers (its process and loops have started).
  for (let i = 0; (await ask<SinkStats>(sink, 'stats')).count === 0; i++) {
    await send(`warm-${i}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  /** Sends `total` events at RATE per second; the 202 time of each, by id. */
  const offer = async (prefix: string, total: number): Promise<Map<string, number>> => {
    const accepted = new Map<string, number>();
    const start = performance.now();
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const id = `${prefix}-${i}`;
      inflight.push(send(id).then((at) => void accepted.set(id, at)));
    }
    await Promise.all(inflight);
    return accepted;
  };
  const latencies = async (prefix: string, total: number) => {
    await ask(sink, 'reset');
    await ask(sink, 'track');
    const start = performance.now();
    const accepted = await offer(prefix, total);
    const achieved = total / ((performance.now() - start) / 1000);
    const s = await waitForCount(sink, total);
    const lat = s.receipts
      .map(([id, at]) => at - (accepted.get(id) ?? NaN))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b);
    return { achieved, lat };
  };
  // The first seconds of a fresh process are its JIT warm-up: reported apart.
  const cold = await latencies('cold', RATE * WARMUP_SECONDS);
  const { achieved, lat } = await latencies('lat', RATE * LAT_SECONDS);
  const dispatcherRssUnderLoad = rssOf(d.child.pid!);
  await d.stop();

  // 3. Memory with many subscriptions (idle: nothing to deliver).
  writeFileSync(join(dir, 'all.yaml'), resources('http://127.0.0.1:9/', SUBSCRIPTIONS, 16, false));
  await operator.applyNow();
  const many = startDispatcherProcess();
  await new Promise((r) => setTimeout(r, 5000 + SUBSCRIPTIONS * 5));
  const rssMany = rssOf(many.child.pid!);
  await many.stop();

  const fmt = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(', ');
  const ratios = herald.map((h, i) => h / bare[i]!);
  const cpu = cpus();
  console.log(
    `command: npx tsx bench/dispatcher-delivery.ts --events ${EVENTS} --in-flight ${IN_FLIGHT} --rounds ${ROUNDS} --latency-seconds ${LAT_SECONDS} --rate ${RATE} --subscriptions ${SUBSCRIPTIONS} --references ${REFERENCES.join(',')}`,
  );
  console.log(
    `machine: ${cpu.length} × ${cpu[0]?.model ?? '?'}, ${mib(totalmem())} RAM, node ${process.version}; nats-server, sink and dispatcher are separate processes on it`,
  );
  console.log(`delivery rate, herald (signed, ledger, attempt log): ${fmt(herald)} events/s`);
  console.log(
    `delivery rate, bare undici client, same bodies and concurrency: ${fmt(bare)} events/s`,
  );
  console.log(`ratio per round: ${ratios.map((r) => r.toFixed(2)).join(', ')} (target ≥ 0.5)`);
  const referenceLabels: Record<string, string> = {
    ledger: 'kv get, signed POST, kv put, ack',
    journal: 'signed POST, one journal message per event-loop turn, ack',
    floor: 'signed POST, ack; nothing recorded',
  };
  for (const [mode, rates] of reference) {
    console.log(
      `reference loop ${mode} (bench/naive-dispatcher.ts: ${referenceLabels[mode] ?? mode}; no Herald code): ${fmt(rates)} events/s, ratio to bare ${rates.map((n, i) => (n / bare[i]!).toFixed(2)).join(', ')}; herald / it ${herald.map((h, i) => (h / rates[i]!).toFixed(2)).join(', ')}`,
    );
  }
  const us = (x: number): string => x.toFixed(0);
  console.log(
    `CPU µs per event, per round — herald: ${cpuHerald.map((c) => `dispatcher ${us(c.dispatcher)} + nats-server ${us(c.nats)} + sink ${us(c.sink)}`).join(' · ')}`,
  );
  for (const [mode, used] of cpuReference) {
    console.log(
      `CPU µs per event, per round — reference loop ${mode}: ${used.map((c) => `loop ${us(c.loop)} + nats-server ${us(c.nats)} + sink ${us(c.sink)}`).join(' · ')}`,
    );
  }
  console.log(
    `CPU µs per event, per round — bare: ${cpuBare.map((c) => `client ${us(c.client)} (the bench process: client, idle broker and operator) + sink ${us(c.sink)}`).join(' · ')}`,
  );
  console.log(
    `latency 202 → sink receipt at ${achieved.toFixed(0)} events/s offered (${lat.length} events): p50 ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms (targets 5 / 25 ms)`,
  );
  console.log(
    `  the dispatcher's first ${WARMUP_SECONDS} s at that rate, before the above (JIT warm-up): p50 ${pct(cold.lat, 50).toFixed(1)} ms, p99 ${pct(cold.lat, 99).toFixed(1)} ms, max ${cold.lat[cold.lat.length - 1]!.toFixed(1)} ms`,
  );
  console.log(
    `dispatcher RSS: under the latency load ${mib(dispatcherRssUnderLoad)}; with ${SUBSCRIPTIONS} idle subscriptions ${mib(rssMany)}`,
  );

  await brokerPool.close();
  await broker.stop();
  await operator.stop();
  await nats.stop();
  sink.kill();
  rmSync(dir, { recursive: true, force: true });
}

/** The sink process: 204 to everything; reports receipts to the parent. */
if (
  process.argv.includes('--role') &&
  process.argv[process.argv.indexOf('--role') + 1] === 'sink'
) {
  let count = 0;
  let first = 0;
  let last = 0;
  let track = false;
  const receipts: [string, number][] = [];
  const server = createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => {
      const at = performance.timeOrigin + performance.now();
      if (count === 0) first = at;
      count++;
      last = at;
      if (track) receipts.push([String(req.headers['ce-id']), at]);
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () =>
    process.send!({ port: (server.address() as AddressInfo).port }),
  );
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'reset') {
      count = 0;
      receipts.length = 0;
      track = false;
      process.send!({ ok: true });
    } else if (m.cmd === 'track') {
      track = true;
      process.send!({ ok: true });
    } else if (m.cmd === 'stats') {
      process.send!({ count, first, last, receipts: track ? receipts : [] });
    }
  });
} else {
  await main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

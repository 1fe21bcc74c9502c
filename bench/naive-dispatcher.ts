/**
 * Reference dispatchers for bench/dispatcher-delivery.ts: the plainest loops over a durable
 * pull consumer, with no Herald code, to show what the JetStream operations alone cost on this
 * machine. Each signs (Standard Webhooks) and POSTs (undici) every message, `--in-flight` at
 * once, connected as Herald is (noAsyncTraces). `--mode`:
 * - `ledger` (default): what Herald's dispatcher does per delivery — ledger check
 *   (@nats-io/kv get), POST, ledger write (kv put), ack.
 * - `journal`: no ledger check; the deliveries settled in one event-loop turn are recorded
 *   together in one stream message (a journal standing for ledger and attempt log), then acked.
 * - `floor`: POST then ack, nothing recorded — at-least-once, no never-twice. What any
 *   dispatcher consuming JetStream through nats.js costs at the least.
 * No retries, filters or metrics. Run as a child process:
 *   node --import tsx bench/naive-dispatcher.ts --nats URL --stream NAME --start-seq N
 *        --count N --in-flight C --sink URL --secret whsec_… [--mode ledger|journal|floor]
 * It sends {ready: true} once connected, waits for {cmd: 'go'}, then {done: true} at the end.
 */
import { createHmac } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { Pool } from 'undici';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    stream: { type: 'string' },
    'start-seq': { type: 'string' },
    count: { type: 'string' },
    'in-flight': { type: 'string' },
    sink: { type: 'string' },
    secret: { type: 'string' },
    mode: { type: 'string', default: 'ledger' },
  },
});
const mode = values.mode!;
if (!['ledger', 'journal', 'floor'].includes(mode)) throw new Error(`unknown --mode ${mode}`);
const count = Number(values.count);
const inFlight = Number(values['in-flight']);
const sinkUrl = new URL(values.sink!);
const key = Buffer.from(values.secret!.replace(/^whsec_/, ''), 'base64');

// As Herald's dispatcher connects: without async stack traces (nats.js builds an Error per
// request otherwise).
const nc = await connect({ servers: values.nats!, noAsyncTraces: true });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const name = `${mode}-${values['start-seq']}`;
await jsm.consumers.add(values.stream!, {
  durable_name: name,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.StartSequence,
  opt_start_seq: Number(values['start-seq']),
  max_ack_pending: inFlight,
});
const ledger = await new Kvm(js).create('bench-naive-ledger', { history: 1, ttl: 3_600_000 });
const journalSubject = `bench.journal.${name}`;
if (mode === 'journal') {
  await jsm.streams.add({ name: 'BENCH_JOURNAL', subjects: ['bench.journal.>'] }).catch(() => {
    // already there from an earlier round
  });
}
const pool = new Pool(sinkUrl.origin, { connections: inFlight });
const consumer = await js.consumers.get(values.stream!, name);
process.send!({ ready: true });
await new Promise((resolve) => process.once('message', resolve));

let settled = 0;
let done!: () => void;
const finished = new Promise<void>((resolve) => (done = resolve));
const ack = (m: JsMsg): void => {
  m.ack();
  if (++settled === count) done();
};

/** Signed POST of the message's bytes; the sink's status. */
async function post(m: JsMsg): Promise<number> {
  const event = m.json<{ id: string }>();
  const webhookId = `msg_${m.seq}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', key)
    .update(`${webhookId}.${timestamp}.`)
    .update(m.data)
    .digest('base64');
  const res = await pool.request({
    method: 'POST',
    path: sinkUrl.pathname,
    headers: {
      'content-type': 'application/cloudevents+json',
      'ce-id': event.id,
      'webhook-id': webhookId,
      'webhook-timestamp': timestamp,
      'webhook-signature': `v1,${signature}`,
    },
    body: m.data,
  });
  await res.body.dump();
  return res.statusCode;
}

let journal: { m: JsMsg; id: string; status: number; ms: number }[] = [];
function writeJournal(): void {
  const batch = journal;
  journal = [];
  const text = JSON.stringify(batch.map((e) => [e.id, e.status, e.ms]));
  void js.publish(journalSubject, text).then(() => batch.forEach((e) => ack(e.m)));
}

async function deliver(m: JsMsg): Promise<void> {
  const id = m.headers?.get('Nats-Msg-Id') ?? String(m.seq);
  if (mode === 'floor') {
    await post(m);
    return ack(m);
  }
  if (mode === 'journal') {
    const started = performance.now();
    const status = await post(m);
    if (journal.length === 0) setImmediate(writeJournal);
    journal.push({ m, id, status, ms: performance.now() - started });
    return;
  }
  const ledgerKey = `${name}.${id.replace(/[^-_=a-zA-Z0-9]/g, '_')}`;
  if (!(await ledger.get(ledgerKey))) {
    const status = await post(m);
    await ledger.put(ledgerKey, String(status));
  }
  ack(m);
}

const messages = await consumer.consume({ max_messages: inFlight });
void (async () => {
  for await (const m of messages) void deliver(m);
})();
await finished;
messages.stop();
await jsm.consumers.delete(values.stream!, name);
await pool.close();
await nc.drain();
process.send!({ done: true });

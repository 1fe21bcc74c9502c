/**
 * The plainest dispatcher that makes the JetStream operations Herald's makes per delivery, for
 * bench/dispatcher-delivery.ts: a reference for what such a loop costs on this machine, with
 * no Herald code. Per message of a durable pull consumer: a ledger check (@nats-io/kv get), a
 * Standard Webhooks-signed POST (undici), a ledger write (kv put) and an ack; `--in-flight`
 * at once; connected as Herald is (noAsyncTraces). No retries, filters, metrics or attempt
 * records. Run as a child process:
 *   node --import tsx bench/naive-dispatcher.ts --nats URL --stream NAME --start-seq N
 *        --count N --in-flight C --sink URL --secret whsec_…
 * It sends {ready: true} once connected, waits for {cmd: 'go'}, then {done: true} at the end.
 */
import { createHmac } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
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
  },
});
const count = Number(values.count);
const inFlight = Number(values['in-flight']);
const sinkUrl = new URL(values.sink!);
const key = Buffer.from(values.secret!.replace(/^whsec_/, ''), 'base64');

// As Herald's dispatcher connects: without async stack traces (nats.js builds an Error per
// request otherwise).
const nc = await connect({ servers: values.nats!, noAsyncTraces: true });
const js = jetstream(nc);
const jsm = await jetstreamManager(nc);
const name = `naive-${values['start-seq']}`;
await jsm.consumers.add(values.stream!, {
  durable_name: name,
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.StartSequence,
  opt_start_seq: Number(values['start-seq']),
  max_ack_pending: inFlight,
});
const ledger = await new Kvm(js).create('bench-naive-ledger', { history: 1, ttl: 3_600_000 });
const pool = new Pool(sinkUrl.origin, { connections: inFlight });
const consumer = await js.consumers.get(values.stream!, name);
process.send!({ ready: true });
await new Promise((resolve) => process.once('message', resolve));

let settled = 0;
let done!: () => void;
const finished = new Promise<void>((resolve) => (done = resolve));
const messages = await consumer.consume({ max_messages: inFlight });
void (async () => {
  for await (const m of messages) {
    void (async () => {
      const id = m.headers?.get('Nats-Msg-Id') ?? String(m.seq);
      const ledgerKey = `${name}.${id.replace(/[^-_=a-zA-Z0-9]/g, '_')}`;
      if (!(await ledger.get(ledgerKey))) {
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
        await ledger.put(ledgerKey, String(res.statusCode));
      }
      m.ack();
      if (++settled === count) done();
    })();
  }
})();
await finished;
messages.stop();
await jsm.consumers.delete(values.stream!, name);
await pool.close();
await nc.drain();
process.send!({ done: true });

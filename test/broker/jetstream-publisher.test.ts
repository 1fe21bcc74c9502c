import { strict as assert } from 'node:assert';
import { jetstreamManager } from '@nats-io/jetstream';
import { MsgHdrsImpl, type NatsConnection } from '@nats-io/transport-node';
import {
  JetStreamPublisher,
  PublishHeaders,
  parsePubAck,
  type PublishAck,
} from '../../broker/jetstream-publisher.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('JetStreamPublisher', function () {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let publisher: JetStreamPublisher;

  before(async () => {
    nats = await startTestNatsServer();
    nc = await nats.connect();
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: 'PUB', subjects: ['pub.>'] });
    publisher = new JetStreamPublisher(nc, 1_000);
  });
  after(() => nats?.stop());

  function publish(
    subject: string,
    payload: string | Uint8Array,
    id: string,
    target = publisher,
  ): Promise<PublishAck> {
    const headers = new PublishHeaders({ 'Herald-Producer': 'ns/p' });
    headers.setMessageId(id);
    return new Promise((resolve, reject) =>
      target.publish(subject, payload, headers, {
        onPublished: (err, ack) => (err === undefined ? resolve(ack as PublishAck) : reject(err)),
      }),
    );
  }

  it('stores with the message id and headers, and reports duplicates with the first sequence', async () => {
    const first = await publish('pub.a', 'one', 'id-1');
    assert.deepEqual(first, { stream: 'PUB', seq: first.seq, duplicate: false });
    const again = await publish('pub.a', 'one again', 'id-1');
    assert.deepEqual(again, { stream: 'PUB', seq: first.seq, duplicate: true });
    const jsm = await jetstreamManager(nc);
    const stored = await jsm.streams.getMessage('PUB', { seq: first.seq });
    assert.equal(stored?.string(), 'one');
    assert.equal(stored?.header.get('Nats-Msg-Id'), 'id-1');
    assert.equal(stored?.header.get('Herald-Producer'), 'ns/p');
    assert.equal(publisher.inFlight, 0);
  });

  it('encodes headers to the bytes nats.js would write', () => {
    const fixed = { 'Herald-Producer': 'ns/p', 'Content-Type': 'application/cloudevents+json' };
    const headers = new PublishHeaders(fixed);
    for (const id of ['a', 'second-id', 'b']) {
      headers.setMessageId(id);
      const reference = new MsgHdrsImpl();
      for (const [name, value] of Object.entries(fixed)) reference.set(name, value);
      reference.set('Nats-Msg-Id', id);
      assert.deepEqual(Buffer.from(headers.encode()), Buffer.from(reference.encode()));
      assert.equal(headers.toString(), reference.toString());
    }
    const onlyId = new PublishHeaders({});
    onlyId.setMessageId('x');
    assert.equal(Buffer.from(onlyId.encode()).toString(), 'NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n');
  });

  it('reuses one headers object across publishes, each with its own id', async () => {
    const headers = new PublishHeaders({ 'Content-Type': 'text/plain' });
    const acks = await Promise.all(
      ['x', 'y', 'z'].map(
        (id) =>
          new Promise<PublishAck | undefined>((resolve) => {
            headers.setMessageId(`reuse-${id}`);
            publisher.publish('pub.b', id, headers, { onPublished: (_err, ack) => resolve(ack) });
          }),
      ),
    );
    assert.deepEqual(
      acks.map((a) => a?.duplicate),
      [false, false, false],
    );
    assert.equal(new Set(acks.map((a) => a?.seq)).size, 3);
  });

  it('fails with NoResponders when no stream takes the subject', async () => {
    await assert.rejects(publish('nostream.a', 'x', 'id-2'), { name: 'NoResponders' });
  });

  it('fails with TimeoutError when nothing answers in time', async () => {
    const silent = nc.subscribe('silent.a'); // a listener that never replies
    try {
      const quick = new JetStreamPublisher(nc, 100);
      await assert.rejects(publish('silent.a', 'x', 'id-3', quick), { name: 'TimeoutError' });
      assert.equal(quick.inFlight, 0);
      quick.close();
    } finally {
      silent.unsubscribe();
    }
  });

  it('reports a payload over max_payload as nats.js throws it', async () => {
    const big = new Uint8Array((nc.info?.max_payload ?? 1024 * 1024) + 1);
    await assert.rejects(publish('pub.c', big, 'id-4'), (err: Error) =>
      err.message.includes('max_payload'),
    );
  });

  it('fails what is in flight and what comes later once the connection closes', async () => {
    const own = await nats.connect();
    const closing = new JetStreamPublisher(own, 5_000);
    const silent = own.subscribe('silent.b');
    const inFlight = publish('silent.b', 'x', 'id-5', closing);
    silent.unsubscribe();
    await own.close();
    await assert.rejects(inFlight, { name: 'ClosedConnectionError' });
    await assert.rejects(publish('pub.d', 'x', 'id-6', closing), {
      name: 'ClosedConnectionError',
    });
  });
});

describe('parsePubAck', () => {
  const cases: [string, PublishAck | string][] = [
    ['{"stream":"S","seq":1}', { stream: 'S', seq: 1, duplicate: false }],
    [
      '{"stream":"HERALD_EVT_a_b","seq":42,"duplicate":true}',
      {
        stream: 'HERALD_EVT_a_b',
        seq: 42,
        duplicate: true,
      },
    ],
    ['{"stream":"S","domain":"hub","seq":7}', { stream: 'S', seq: 7, duplicate: false }],
    ['{"stream":"S","seq":7,"duplicate":false}', { stream: 'S', seq: 7, duplicate: false }],
    ['{"stream":"S\\u0041","seq":3}', { stream: 'SA', seq: 3, duplicate: false }],
    // Past 15 digits JSON.parse reads it, with JSON.parse's precision.
    [
      '{"stream":"S","seq":1234567890123456}',
      {
        stream: 'S',
        seq: 1234567890123456,
        duplicate: false,
      },
    ],
    ['{"stream":"S","seq":1} ', { stream: 'S', seq: 1, duplicate: false }],
    [
      '{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}',
      'JetStreamApiError: maximum messages exceeded',
    ],
    [
      '{"error":{"code":503,"err_code":10039,"description":"jetstream not enabled"}}',
      'JetStreamNotEnabled: jetstream not enabled',
    ],
    ['{"stream":"","seq":1}', 'Error: invalid PubAck'],
    ['{"stream":"S"}', 'Error: invalid PubAck'],
    ['{"stream":"S","seq":1', 'Error: invalid PubAck: not JSON'],
    ['null', 'Error: invalid PubAck'],
    ['', 'Error: invalid PubAck: not JSON'],
  ];
  for (const [text, expected] of cases) {
    it(`reads ${JSON.stringify(text)}`, () => {
      const result = parsePubAck(bytes(text));
      if (typeof expected === 'string') {
        assert.ok(result instanceof Error);
        assert.equal(`${result.name}: ${result.message}`, expected);
      } else {
        assert.deepEqual(result, expected);
      }
    });
  }
});

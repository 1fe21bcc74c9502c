import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { startDemoSink, SignatureStatus, type SinkDelivery } from '../../cli/demo-sink.js';

describe('herald sink', () => {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;

  async function deliver(
    headers: Record<string, string>,
    body: string,
  ): Promise<{ delivery: SinkDelivery; lines: string[]; status: number }> {
    const lines: string[] = [];
    let resolve!: (d: SinkDelivery) => void;
    const got = new Promise<SinkDelivery>((r) => (resolve = r));
    const sink = await startDemoSink({
      port: 0,
      secrets: [secret],
      write: (l) => lines.push(l),
      onDelivery: resolve,
    });
    try {
      const res = await fetch(sink.url, { method: 'POST', headers, body });
      return { delivery: await got, lines, status: res.status };
    } finally {
      await sink.stop();
    }
  }

  const ce = {
    'ce-specversion': '1.0',
    'ce-id': 'e-1',
    'ce-source': 'https://acme.example/orders',
    'ce-type': 'com.example.order.created',
    'content-type': 'application/json',
  };
  const body = '{"orderId":"1","total":2}';

  it('prints type, id, source and data, and "verified" for a valid signature', async () => {
    const ts = new Date();
    const signature = new Webhook(secret).sign('msg_1', ts, body);
    const { delivery, lines, status } = await deliver(
      {
        ...ce,
        'webhook-id': 'msg_1',
        'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)),
        'webhook-signature': signature,
      },
      body,
    );
    assert.equal(status, 204);
    assert.equal(delivery.signature, SignatureStatus.Verified);
    const text = lines.join('\n');
    for (const part of [
      'com.example.order.created',
      'id=e-1',
      'source=https://acme.example/orders',
      body,
      'signature: verified',
    ]) {
      assert.ok(text.includes(part), `missing ${part} in ${text}`);
    }
  });

  it('says INVALID for a forged signature and unsigned when there is none', async () => {
    const now = String(Math.floor(Date.now() / 1000));
    const forged = await deliver(
      { ...ce, 'webhook-id': 'msg_2', 'webhook-timestamp': now, 'webhook-signature': 'v1,AAAA' },
      body,
    );
    assert.equal(forged.delivery.signature, SignatureStatus.Invalid);
    const unsigned = await deliver(ce, body);
    assert.equal(unsigned.delivery.signature, SignatureStatus.Unsigned);
  });

  it('looks the secrets up for each delivery when given a lookup, so edited secrets verify', async () => {
    const rotated = `whsec_${randomBytes(24).toString('base64')}`;
    let current = [secret];
    const seen: SinkDelivery[] = [];
    const sink = await startDemoSink({
      port: 0,
      secrets: () => Promise.resolve(current),
      write: () => undefined,
      onDelivery: (d) => seen.push(d),
    });
    const post = async (key: string, id: string): Promise<void> => {
      const ts = new Date();
      await fetch(sink.url, {
        method: 'POST',
        headers: {
          ...ce,
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(ts.getTime() / 1000)),
          'webhook-signature': new Webhook(key).sign(id, ts, body),
        },
        body,
      });
    };
    try {
      await post(rotated, 'msg_a');
      current = [secret, rotated];
      await post(rotated, 'msg_b');
      current = [rotated];
      await post(secret, 'msg_c');
    } finally {
      await sink.stop();
    }
    assert.deepEqual(
      seen.map((d) => d.signature),
      [SignatureStatus.Invalid, SignatureStatus.Verified, SignatureStatus.Invalid],
    );
  });

  it('reports a request that is not a CloudEvent instead of failing', async () => {
    const { delivery, lines } = await deliver({ 'content-type': 'text/plain' }, 'hello');
    assert.equal(delivery.event, undefined);
    assert.match(lines.join('\n'), /not a CloudEvent/);
  });

  it('consents to the webhook validation handshake, so handshake subscriptions work with it', async () => {
    const lines: string[] = [];
    const sink = await startDemoSink({ port: 0, secrets: [], write: (l) => lines.push(l) });
    try {
      const res = await fetch(sink.url, {
        method: 'OPTIONS',
        headers: { 'WebHook-Request-Origin': 'herald' },
      });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('webhook-allowed-origin'), 'herald');
      assert.equal(res.headers.get('webhook-allowed-rate'), '*');
      assert.match(lines.join('\n'), /validation handshake from herald/);
    } finally {
      await sink.stop();
    }
  });
});

/**
 * POST /events in charsets other than UTF-8 (DESIGN.md §4: structured mode, "any charset"),
 * through a real broker and nats-server: what is stored is UTF-8 with the right characters.
 */
import { strict as assert } from 'node:assert';
import { isUtf8 } from 'node:buffer';
import { request } from 'undici';
import { HTTP, type CloudEvent } from 'cloudevents';
import { decodeStructured } from '../../core/cloudevents/index.js';
import {
  ACME_KEY,
  ORDER_CREATED,
  ORDER_SHIPPED,
  readLastMessage,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

const PROBLEM = 'https://herald.dev/problems/';
const SOURCE = 'https://acme.example/shop/ch';

interface Posted {
  status: number;
  body: Record<string, unknown>;
}

describe('broker HTTP ingest in other charsets', function () {
  let fx: BrokerFixture;
  let seq = 0;
  const nextId = (): string => `cs-${Date.now()}-${++seq}`;

  before(async () => {
    fx = await startBrokerFixture();
  });
  after(() => fx?.stop());

  async function post(headers: Record<string, string>, body: Buffer): Promise<Posted> {
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${ACME_KEY}` },
      body,
    });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  }

  /** The stored message of a 202, checked to be the UTF-8 event Herald always stores. */
  async function readStored(res: Posted, stream: string): Promise<Record<string, unknown>> {
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const { msg } = await readLastMessage(fx.jsm, stream);
    assert.equal(msg.seq, res.body.sequence);
    assert.equal(msg.header.get('Content-Type'), 'application/cloudevents+json; charset=utf-8');
    const bytes = Buffer.from(msg.data);
    assert.ok(isUtf8(bytes));
    return JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  }

  it('stores a latin-1 structured event as UTF-8 with the right characters', async () => {
    const id = nextId();
    const json = JSON.stringify({
      specversion: '1.0',
      id,
      source: SOURCE,
      type: ORDER_CREATED.type,
      subject: 'Bestellung für Jürgen Größe',
      data: { orderId: 'Müller-1', total: 12.5, note: '½ Portion, ¿sí?' },
    });
    const res = await post(
      { 'content-type': 'application/cloudevents+json; charset=ISO-8859-1' },
      Buffer.from(json, 'latin1'),
    );
    const stored = await readStored(res, ORDER_CREATED.stream);
    assert.equal(stored.id, id);
    assert.equal(stored.subject, 'Bestellung für Jürgen Größe');
    assert.deepEqual(stored.data, { orderId: 'Müller-1', total: 12.5, note: '½ Portion, ¿sí?' });
    // An independent reader (the SDK) sees the same.
    const { msg } = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
    const peer = HTTP.toEvent({
      headers: { 'content-type': 'application/cloudevents+json' },
      body: msg.string(),
    }) as CloudEvent<unknown>;
    assert.equal(peer.subject, 'Bestellung für Jürgen Größe');
  });

  it('stores a UTF-16 batch (with its BOM) as UTF-8 events', async () => {
    const ids = [nextId(), nextId()];
    const batch = JSON.stringify(
      ids.map((id, i) => ({
        specversion: '1.0',
        id,
        source: SOURCE,
        type: ORDER_SHIPPED.type,
        data: { carrier: ['Poste Suisse – Zürich', '東京運輸'][i] },
      })),
    );
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/cloudevents-batch+json; charset=utf-16',
        authorization: `Bearer ${ACME_KEY}`,
      },
      body: Buffer.from(`\ufeff${batch}`, 'utf16le'),
    });
    const receipts = (await res.body.json()) as Array<{ id: string }>;
    assert.equal(res.statusCode, 202, JSON.stringify(receipts));
    assert.deepEqual(
      receipts.map((r) => r.id),
      ids,
    );
    const { msg } = await readLastMessage(fx.jsm, ORDER_SHIPPED.stream);
    const last = decodeStructured(msg.data);
    assert.equal(last.attributes.id, ids[1]);
    assert.deepEqual(last.data?.value, { carrier: '東京運輸' });
  });

  it('checks binary-mode JSON data in its charset and stores the bytes sent', async () => {
    const headers = {
      'content-type': 'application/json; charset=windows-1252',
      'ce-specversion': '1.0',
      'ce-source': SOURCE,
      'ce-type': ORDER_CREATED.type,
    };
    // 0x80 is € in windows-1252: the schema sees the decoded text.
    const sent = Buffer.from('{"orderId":"Crème \u0080","total":3}', 'latin1');
    const res = await post({ ...headers, 'ce-id': nextId() }, sent);
    const stored = await readStored(res, ORDER_CREATED.stream);
    assert.equal(stored.datacontenttype, 'application/json; charset=windows-1252');
    assert.deepEqual(Buffer.from(stored.data_base64 as string, 'base64'), sent);

    const refused = await post(
      { ...headers, 'ce-id': nextId() },
      Buffer.from('{"orderId":"Crème","total":-1}', 'latin1'),
    );
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.equal(refused.body.type, `${PROBLEM}schema-validation-failed`);
    assert.deepEqual(refused.body.errors, [{ instancePath: '/total', message: 'must be >= 0' }]);
  });

  it('answers 415 naming an unknown charset, and 400 for bytes invalid in the charset', async () => {
    const body = JSON.stringify({
      specversion: '1.0',
      id: nextId(),
      source: SOURCE,
      type: ORDER_SHIPPED.type,
    });
    const unknown = await post(
      { 'content-type': 'application/cloudevents+json; charset=x-klingon' },
      Buffer.from(body),
    );
    assert.equal(unknown.status, 415);
    assert.equal(unknown.body.type, `${PROBLEM}unsupported-media-type`);
    assert.match(String(unknown.body.detail), /charset "x-klingon" is not supported/);

    const invalid = await post(
      { 'content-type': 'application/cloudevents+json; charset=utf-16le' },
      Buffer.from(body, 'utf16le').subarray(0, -1),
    );
    assert.equal(invalid.status, 400);
    assert.equal(invalid.body.type, `${PROBLEM}invalid-cloudevent`);
    assert.equal(invalid.body.code, 'malformed');
    assert.match(String(invalid.body.detail), /not valid in its charset "utf-16le"/);
  });
});

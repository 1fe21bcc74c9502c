import { strict as assert } from 'node:assert';
import {
  PROBLEM,
  applyAuthConfig,
  buildAuthProducer,
  buildConfigWith,
  buildOrderBody,
  postEvents,
  startAuthBrokerFixture,
  type Answer,
} from './auth-fixture.js';
import { ACME_KEY, type BrokerFixture } from './fixture.js';

const KEY_1 = 'rotating-key-one-5d0c1e9a7b3f';
const KEY_2 = 'rotating-key-two-8a2f4c6e1d0b';
const KEY_3 = 'rotating-key-three-3e5a7c9b1f2d';
/** Two dots, but no JWT: its first segment is not a JSON header. */
const DOTTED_KEY = 'acme.api-key.v2';

function assertRefused(res: Answer, status: number, slug: string, code?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.type, PROBLEM + slug, JSON.stringify(res.body));
  if (code !== undefined) assert.equal(res.body.code, code, JSON.stringify(res.body));
}

describe('broker auth: API keys', function () {
  let fx: BrokerFixture;

  before(async () => {
    fx = await startAuthBrokerFixture();
    await applyAuthConfig(
      fx,
      buildConfigWith(buildAuthProducer('rotating', { apiKeys: [KEY_1, KEY_2, DOTTED_KEY] })),
    );
  });
  after(() => fx?.stop());

  async function send(headers: Record<string, string>): Promise<Answer> {
    const order = buildOrderBody();
    return postEvents(fx.url, { ...order.headers, ...headers }, order.body);
  }

  it('accepts each of a producer’s keys, as a bearer token or X-API-Key', async () => {
    for (const key of [KEY_1, KEY_2, DOTTED_KEY]) {
      assert.equal((await send({ authorization: `Bearer ${key}` })).status, 202, key);
      assert.equal((await send({ 'x-api-key': key })).status, 202, key);
    }
  });

  it('stops accepting a key removed from the config, without a restart', async () => {
    await applyAuthConfig(
      fx,
      buildConfigWith(buildAuthProducer('rotating', { apiKeys: [KEY_2, KEY_3] })),
    );
    assertRefused(
      await send({ authorization: `Bearer ${KEY_1}` }),
      401,
      'unauthorized',
      'unknown_api_key',
    );
    assertRefused(await send({ 'x-api-key': DOTTED_KEY }), 401, 'unauthorized', 'unknown_api_key');
    assert.equal((await send({ authorization: `Bearer ${KEY_2}` })).status, 202);
    assert.equal((await send({ 'x-api-key': KEY_3 })).status, 202);
  });

  it('refuses no credentials, another scheme alone, and two kinds at once', async () => {
    const none = await send({});
    assertRefused(none, 401, 'unauthorized', 'absent');
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="herald"');
    assertRefused(await send({ authorization: 'Bearer ' }), 401, 'unauthorized', 'absent');
    assertRefused(
      await send({ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }),
      401,
      'unauthorized',
      'unsupported_scheme',
    );
    assertRefused(
      await send({ authorization: `Bearer ${KEY_2}`, 'x-api-key': KEY_2 }),
      401,
      'unauthorized',
      'conflicting_credentials',
    );
    // Basic for a proxy in front is not Herald's: ignored next to an X-API-Key.
    const proxied = await send({ authorization: 'Basic cHJveHk6cHc=', 'x-api-key': KEY_2 });
    assert.equal(proxied.status, 202, JSON.stringify(proxied.body));
  });

  it('authorizes sources by prefix: a look-alike host is not under the pattern', async () => {
    const order = buildOrderBody();
    const evil = order.body.replace(
      'https://acme.example/shop/eu',
      'https://acme.example.evil.com/x',
    );
    assert.notEqual(evil, order.body);
    const res = await postEvents(fx.url, { ...order.headers, 'x-api-key': KEY_2 }, evil);
    assertRefused(res, 403, 'forbidden-source');
  });

  it('never logs a key', () => {
    const logged = fx.logLines.join('');
    assert.match(logged, /unknown_api_key|unknown API key/);
    for (const key of [KEY_1, KEY_2, KEY_3, DOTTED_KEY, ACME_KEY]) {
      assert.ok(!logged.includes(key), `key ${key.slice(0, 8)}… was logged`);
    }
  });
});

import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { SignJWT, type JWTPayload } from 'jose';
import { PRODUCER_HEADER } from '../../broker/ingest.js';
import { startJwksServer, type SigningKey, type TestJwksServer } from '../support/jwks-server.js';
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
import { NS, ORDER_CREATED, readLastMessage, type BrokerFixture } from './fixture.js';

const AUDIENCE = 'herald';

function assertRefused(res: Answer, status: number, slug: string, code?: string): void {
  assert.equal(res.status, status, JSON.stringify(res.body));
  assert.equal(res.body.type, PROBLEM + slug, JSON.stringify(res.body));
  if (code !== undefined) assert.equal(res.body.code, code, JSON.stringify(res.body));
}

/** A URL nothing listens on: a port that was free a moment ago. */
async function findClosedUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/jwks.json`;
}

function encodeSegment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('broker auth: JWT bearer tokens', function () {
  let fx: BrokerFixture;
  let idp: TestJwksServer;
  let flaky: TestJwksServer;
  let keys: Record<'RS256' | 'ES256' | 'EdDSA', SigningKey>;
  const tokens: string[] = [];

  before(async () => {
    idp = await startJwksServer();
    flaky = await startJwksServer();
    keys = {
      RS256: await idp.createKey('RS256'),
      ES256: await idp.createKey('ES256'),
      EdDSA: await idp.createKey('EdDSA'),
    };
    await flaky.createKey('ES256');
    // Cooldown 0: every unknown kid refetches, so rotation tests need no waiting.
    fx = await startAuthBrokerFixture({ auth: { jwksCooldownMs: 0 } });
    const jwt = (issuer: string, extra: { subject?: string; jwksUri?: string } = {}) => ({
      issuer,
      audience: AUDIENCE,
      jwksUri: extra.jwksUri ?? idp.jwksUri,
      ...(extra.subject !== undefined && { subject: extra.subject }),
    });
    await applyAuthConfig(
      fx,
      buildConfigWith(
        buildAuthProducer('app', { jwt: jwt(idp.issuer) }),
        // One issuer shared by two tenants, told apart by `sub`.
        buildAuthProducer('tenant-a', { jwt: jwt(`${idp.issuer}/t`, { subject: 'client-a' }) }),
        buildAuthProducer('tenant-b', { jwt: jwt(`${idp.issuer}/t`, { subject: 'client-b' }) }),
        // Two producers trusting the same issuer for any subject: ambiguous.
        buildAuthProducer('dup-1', { jwt: jwt(`${idp.issuer}/dup`) }),
        buildAuthProducer('dup-2', { jwt: jwt(`${idp.issuer}/dup`) }),
        buildAuthProducer('flaky', { jwt: jwt(flaky.issuer, { jwksUri: flaky.jwksUri }) }),
        buildAuthProducer('gone', {
          jwt: jwt(`${idp.issuer}/gone`, { jwksUri: await findClosedUrl() }),
        }),
      ),
    );
  });
  after(async () => {
    await fx?.stop();
    await idp?.stop();
    await flaky?.stop();
  });

  function claims(overrides: JWTPayload = {}): JWTPayload {
    return { iss: idp.issuer, aud: AUDIENCE, sub: 'svc', ...overrides };
  }

  async function sendToken(token: string): Promise<Answer> {
    tokens.push(token);
    const { body, headers } = buildOrderBody();
    return postEvents(fx.url, { ...headers, authorization: `Bearer ${token}` }, body);
  }

  async function storedProducer(): Promise<string | undefined> {
    const { msg } = await readLastMessage(fx.jsm, ORDER_CREATED.stream);
    return msg.header.get(PRODUCER_HEADER);
  }

  for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
    it(`accepts a token signed with ${alg}`, async () => {
      const res = await sendToken(await idp.sign(keys[alg], claims()));
      assert.equal(res.status, 202, JSON.stringify(res.body));
      assert.equal(await storedProducer(), `${NS}/app`);
    });
  }

  it('accepts an audience list holding the producer audience', async () => {
    const token = await idp.sign(keys.ES256, claims({ aud: ['other', AUDIENCE] }));
    assert.equal((await sendToken(token)).status, 202);
  });

  it('refuses a wrong issuer or audience: no producer accepts the token', async () => {
    for (const wrong of [{ iss: 'https://evil.example' }, { aud: 'someone-else' }]) {
      const res = await sendToken(await idp.sign(keys.RS256, claims(wrong)));
      assertRefused(res, 401, 'invalid-token', 'no_matching_producer');
      assert.match(String(res.headers['www-authenticate']), /error="invalid_token"/);
    }
  });

  it('refuses expired, not-yet-valid and exp-less tokens; tolerates 30 s of clock skew', async () => {
    const expired = await idp.sign(keys.RS256, claims(), { expiresIn: -120 });
    assertRefused(await sendToken(expired), 401, 'invalid-token', 'token_expired');
    const early = await idp.sign(keys.RS256, claims(), { notBefore: 300 });
    assertRefused(await sendToken(early), 401, 'invalid-token', 'token_not_yet_valid');
    const forever = await idp.sign(keys.RS256, claims(), { noExpiry: true });
    const res = await sendToken(forever);
    assertRefused(res, 401, 'invalid-token', 'claim_invalid');
    assert.equal(res.body.claim, 'exp');
    const justExpired = await idp.sign(keys.RS256, claims(), { expiresIn: -10 });
    assert.equal((await sendToken(justExpired)).status, 202);
  });

  it('refuses alg none and HS256 without fetching any key', async () => {
    const before = idp.fetches;
    const none = `${encodeSegment({ alg: 'none', typ: 'JWT' })}.${encodeSegment(
      claims({ exp: Math.floor(Date.now() / 1000) + 300 }),
    )}.`;
    assertRefused(await sendToken(none), 401, 'invalid-token', 'algorithm_not_allowed');
    // HS256 keyed with the public RSA modulus: the classic algorithm-confusion attack.
    const hs256 = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'HS256', kid: keys.RS256.kid })
      .setExpirationTime('5m')
      .sign(Buffer.from(String(keys.RS256.publicJwk.n)));
    assertRefused(await sendToken(hs256), 401, 'invalid-token', 'algorithm_not_allowed');
    assert.equal(idp.fetches, before);
  });

  it('refetches the JWKS on an unknown kid: accepts a rotated-in key, refuses an unknown one', async () => {
    const rotated = await idp.createKey('ES256', { publish: false });
    const token = await idp.sign(rotated, claims());
    const before = idp.fetches;
    assertRefused(await sendToken(token), 401, 'invalid-token', 'unknown_key');
    assert.equal(idp.fetches, before + 1, 'an unknown kid refetches the JWKS');
    idp.publish(rotated);
    const res = await sendToken(await idp.sign(rotated, claims()));
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(idp.fetches, before + 2);
    // Keys still in the set need no fetch.
    assert.equal((await sendToken(await idp.sign(keys.EdDSA, claims()))).status, 202);
    assert.equal(idp.fetches, before + 2);
  });

  it('refuses a token signed by a key outside the JWKS that claims a known kid', async () => {
    const impostor = await idp.createKey('RS256', { publish: false, kid: keys.RS256.kid });
    const res = await sendToken(await idp.sign(impostor, claims()));
    assertRefused(res, 401, 'invalid-token', 'signature_invalid');
  });

  it('picks among producers sharing an issuer by their pinned subject', async () => {
    const iss = `${idp.issuer}/t`;
    const a = await sendToken(await idp.sign(keys.RS256, claims({ iss, sub: 'client-a' })));
    assert.equal(a.status, 202, JSON.stringify(a.body));
    assert.equal(await storedProducer(), `${NS}/tenant-a`);
    const b = await sendToken(await idp.sign(keys.RS256, claims({ iss, sub: 'client-b' })));
    assert.equal(b.status, 202, JSON.stringify(b.body));
    assert.equal(await storedProducer(), `${NS}/tenant-b`);
    const c = await sendToken(await idp.sign(keys.RS256, claims({ iss, sub: 'client-c' })));
    assertRefused(c, 401, 'invalid-token', 'no_matching_producer');
  });

  it('refuses a token two unpinned producers would accept', async () => {
    const token = await idp.sign(keys.RS256, claims({ iss: `${idp.issuer}/dup` }));
    assertRefused(await sendToken(token), 401, 'invalid-token', 'ambiguous_producer');
  });

  it('answers 503 with Retry-After while the JWKS cannot be fetched, then recovers', async () => {
    flaky.failWith(500);
    const key = await flaky.createKey('ES256');
    const flakyClaims = { iss: flaky.issuer, aud: AUDIENCE, sub: 'svc' };
    const down = await sendToken(await flaky.sign(key, flakyClaims));
    assertRefused(down, 503, 'auth-unavailable', 'jwks_unavailable');
    assert.ok(Number(down.headers['retry-after']) > 0);
    const unreachable = await sendToken(
      await idp.sign(keys.RS256, claims({ iss: `${idp.issuer}/gone` })),
    );
    assertRefused(unreachable, 503, 'auth-unavailable', 'jwks_unavailable');
    flaky.failWith(0);
    const up = await sendToken(await flaky.sign(key, flakyClaims));
    assert.equal(up.status, 202, JSON.stringify(up.body));
  });

  it('refuses a malformed token and never logs one', async () => {
    const garbled = `${encodeSegment({ alg: 'RS256' })}.not-json.sig`;
    assertRefused(await sendToken(garbled), 401, 'invalid-token', 'malformed');
    const logged = fx.logLines.join('');
    assert.match(logged, /invalid-token/);
    for (const token of tokens) {
      assert.ok(!logged.includes(token), 'a token was logged');
      for (const segment of token.split('.').filter((s) => s.length >= 16)) {
        assert.ok(!logged.includes(segment), 'part of a token was logged');
      }
    }
  });
});

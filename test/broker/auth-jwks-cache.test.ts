import { strict as assert } from 'node:assert';
import { JwtVerifier } from '../../broker/auth/jwt-auth.js';
import { ProblemError } from '../../broker/problems.js';
import { ConfigCache } from '../../core/config/kv.js';
import { configKeyFor, ConfigKeyPrefix } from '../../core/topology.js';
import { startJwksServer, type TestJwksServer } from '../support/jwks-server.js';
import { buildProducer, NS } from './fixture.js';

/** The JWKS cache on its own: jose's cooldown bounds refetches caused by unknown kids. */
describe('broker auth: JWKS caching', () => {
  let idp: TestJwksServer;
  let cache: ConfigCache;

  before(async () => {
    idp = await startJwksServer();
    cache = new ConfigCache();
    const producer = buildProducer('app', [], ['order-created'], []);
    producer.jwt = { issuer: idp.issuer, audience: 'herald', jwksUri: idp.jwksUri };
    cache.applyEntry(configKeyFor(ConfigKeyPrefix.Producer, NS, 'app'), producer);
  });
  after(() => idp?.stop());

  function createVerifier(): JwtVerifier {
    return new JwtVerifier({
      cache,
      clockToleranceSeconds: 30,
      jwksCooldownMs: 60_000,
      jwksCacheMaxAgeMs: 600_000,
      jwksTimeoutMs: 2_000,
    });
  }

  const claims = () => ({ iss: idp.issuer, aud: 'herald' });

  it('fetches once, then serves known kids from the cache', async () => {
    const verifier = createVerifier();
    const key = await idp.createKey('ES256');
    const before = idp.fetches;
    for (let i = 0; i < 3; i++) {
      const producer = await verifier.begin(await idp.sign(key, claims()));
      assert.equal(producer.name, 'app');
    }
    assert.equal(idp.fetches, before + 1);
  });

  it('does not refetch for an unknown kid within the cooldown (a flood of random kids costs the IdP nothing)', async () => {
    const verifier = createVerifier();
    const known = await idp.createKey('RS256');
    await verifier.begin(await idp.sign(known, claims()));
    const before = idp.fetches;
    const rotated = await idp.createKey('RS256');
    for (let i = 0; i < 3; i++) {
      await assert.rejects(verifier.begin(await idp.sign(rotated, claims())), (err: unknown) => {
        assert.ok(err instanceof ProblemError);
        assert.equal(err.problem.code, 'unknown_key');
        return true;
      });
    }
    assert.equal(idp.fetches, before, 'no refetch during the cooldown');
  });

  it('follows a producer to its new jwksUri', async () => {
    const verifier = createVerifier();
    const key = await idp.createKey('EdDSA');
    await verifier.begin(await idp.sign(key, claims()));
    const producer = buildProducer('app', [], ['order-created'], []);
    producer.jwt = { issuer: idp.issuer, audience: 'herald', jwksUri: `${idp.jwksUri}?v=2` };
    cache.applyEntry(configKeyFor(ConfigKeyPrefix.Producer, NS, 'app'), producer);
    const before = idp.fetches;
    await verifier.begin(await idp.sign(key, claims()));
    assert.equal(idp.fetches, before + 1, 'the new jwksUri is fetched');
  });
});

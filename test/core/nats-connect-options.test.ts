/**
 * buildNatsConnectOptions: the connect() options every Herald part gets from the NATS
 * credentials and TLS files, and the startup errors for files that cannot work.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nkeys, type Authenticator, type JwtAuth } from '@nats-io/transport-node';
import { ErrorCode, isHeraldError } from '../../core/errors.js';
import { buildNatsConnectOptions, type NatsAuth } from '../../core/nats-connect-options.js';
import { formatCredsFile, TLS_FIXTURES } from '../support/secured-nats.js';

function newUser(): { publicKey: string; seed: string } {
  const user = nkeys.createUser();
  return { publicKey: user.getPublicKey(), seed: new TextDecoder().decode(user.getSeed()) };
}

/** Asserts `fn` throws ERR_INVALID_NATS_AUTH and returns its message. */
function invalidAuthMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isHeraldError(err, ErrorCode.InvalidNatsAuth), `unexpected error: ${String(err)}`);
    return err.message;
  }
  assert.fail('expected ERR_INVALID_NATS_AUTH');
}

describe('buildNatsConnectOptions', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-nats-auth-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('adds nothing without files, so the URL alone is used as before', () => {
    assert.deepEqual(buildNatsConnectOptions(undefined), {});
    assert.deepEqual(buildNatsConnectOptions({}), {});
    assert.deepEqual(buildNatsConnectOptions({ tls: {} }), {});
  });

  it('signs the server nonce with the seed from the creds file, re-reading the file each time', () => {
    const first = newUser();
    const credsFile = join(dir, 'user.creds');
    writeFileSync(credsFile, formatCredsFile(first.seed, 'jwt-one'));
    const { authenticator, tls } = buildNatsConnectOptions({ credsFile });
    assert.equal(tls, undefined);
    assert.equal(typeof authenticator, 'function');
    const sign = (nonce: string): JwtAuth => (authenticator as Authenticator)(nonce) as JwtAuth;
    const nonce = 'server-nonce';
    const auth = sign(nonce);
    assert.equal(auth.jwt, 'jwt-one');
    assert.equal(auth.nkey, first.publicKey);
    const sig = Buffer.from(String(auth.sig), 'base64url');
    assert.ok(nkeys.fromPublic(first.publicKey).verify(new TextEncoder().encode(nonce), sig));

    // A rotated file (a new Secret projected into the pod) is what the next connect uses.
    const second = newUser();
    writeFileSync(credsFile, formatCredsFile(second.seed, 'jwt-two'));
    const rotated = sign(nonce);
    assert.equal(rotated.jwt, 'jwt-two');
    assert.equal(rotated.nkey, second.publicKey);
  });

  it('names a missing creds file at startup', () => {
    const credsFile = join(dir, 'absent.creds');
    const message = invalidAuthMessage(() => buildNatsConnectOptions({ credsFile }));
    assert.match(message, /cannot read the NATS credentials file/);
    assert.ok(message.includes(credsFile), message);
    assert.match(message, /ENOENT/);
  });

  it('names a creds path that is a directory (the mount rather than the file in it)', () => {
    const message = invalidAuthMessage(() => buildNatsConnectOptions({ credsFile: dir }));
    assert.match(message, /cannot read the NATS credentials file/);
    assert.ok(message.includes(dir), message);
    assert.match(message, /EISDIR/);
  });

  it('refuses a file that is not a creds file without echoing its content', () => {
    const { seed } = newUser();
    const credsFile = join(dir, 'seed-only.creds');
    // A bare seed (a common mistake: the .nk file instead of the .creds file).
    writeFileSync(credsFile, `${seed}\n`);
    const message = invalidAuthMessage(() => buildNatsConnectOptions({ credsFile }));
    assert.ok(message.includes(credsFile), message);
    assert.match(message, /not a credentials file/);
    assert.ok(!message.includes(seed), 'the seed must not appear in the error');
    assert.ok(!message.includes(seed.slice(0, 12)), 'no part of the seed in the error');
  });

  it('passes only the TLS files given', () => {
    const caFile = TLS_FIXTURES.ca;
    const certFile = TLS_FIXTURES.clientCert;
    const keyFile = TLS_FIXTURES.clientKey;
    assert.deepEqual(buildNatsConnectOptions({ tls: { caFile } }), { tls: { caFile } });
    assert.deepEqual(buildNatsConnectOptions({ tls: { certFile, keyFile } }), {
      tls: { certFile, keyFile },
    });
    const all = buildNatsConnectOptions({ tls: { caFile, certFile, keyFile } });
    assert.deepEqual(all, { tls: { caFile, certFile, keyFile } });
  });

  it('refuses a client certificate without its key, and a key without its certificate', () => {
    const certFile = TLS_FIXTURES.clientCert;
    const keyFile = TLS_FIXTURES.clientKey;
    const noKey = invalidAuthMessage(() => buildNatsConnectOptions({ tls: { certFile } }));
    assert.ok(noKey.includes(certFile), noKey);
    assert.match(noKey, /needs its key file too.*NATS_TLS_KEY_FILE/);
    const noCert = invalidAuthMessage(() => buildNatsConnectOptions({ tls: { keyFile } }));
    assert.ok(noCert.includes(keyFile), noCert);
    assert.match(noCert, /needs its client certificate too.*NATS_TLS_CERT_FILE/);
  });

  it('names a missing TLS file, or a directory in its place, at startup', () => {
    const cases: { auth: NatsAuth; path: string; what: RegExp }[] = [
      { auth: { tls: { caFile: join(dir, 'ca.crt') } }, path: join(dir, 'ca.crt'), what: /CA/ },
      {
        auth: { tls: { certFile: join(dir, 'tls.crt'), keyFile: TLS_FIXTURES.clientKey } },
        path: join(dir, 'tls.crt'),
        what: /certificate file/,
      },
      {
        auth: { tls: { certFile: TLS_FIXTURES.clientCert, keyFile: join(dir, 'tls.key') } },
        path: join(dir, 'tls.key'),
        what: /key file/,
      },
    ];
    cases.push({ auth: { tls: { caFile: dir } }, path: dir, what: /CA/ });
    for (const c of cases) {
      const message = invalidAuthMessage(() => buildNatsConnectOptions(c.auth));
      assert.ok(message.includes(c.path), message);
      assert.match(message, c.what);
      assert.match(message, /ENOENT|EISDIR/);
    }
  });
});

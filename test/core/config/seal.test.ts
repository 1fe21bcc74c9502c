import { strict as assert } from 'node:assert';
import {
  generateConfigKey,
  hashApiKey,
  parseConfigKey,
  sealSecret,
  unsealSecret,
} from '../../../core/config/seal.js';
import { ErrorCode, isHeraldError } from '../../../core/errors.js';

describe('config sealing', () => {
  const key = parseConfigKey(generateConfigKey());

  it('round-trips secrets and hides them from anyone without the key', () => {
    for (const secret of ['whsec_c2VjcmV0', 'ünïcødé ✓', 'x'.repeat(4096)]) {
      const sealed = sealSecret(key, secret);
      assert.ok(!sealed.includes(secret.slice(0, 8)));
      assert.equal(unsealSecret(key, sealed), secret);
    }
  });

  it('seals deterministically, so recompiling unchanged resources writes nothing', () => {
    assert.equal(sealSecret(key, 'same'), sealSecret(key, 'same'));
    assert.notEqual(sealSecret(key, 'same'), sealSecret(key, 'other'));
  });

  it('fails with a typed error naming the cause, not the secret, under another key', () => {
    const sealed = sealSecret(key, 'top-secret-value');
    const other = parseConfigKey(generateConfigKey());
    assert.throws(
      () => unsealSecret(other, sealed),
      (err: unknown) =>
        isHeraldError(err, ErrorCode.SealFailed) &&
        /config key/.test(err.message) &&
        !err.message.includes('top-secret-value') &&
        !err.message.includes(sealed),
    );
    assert.throws(() => unsealSecret(key, sealed.slice(0, -4) + 'AAAA'), /cannot unseal/);
  });

  it('accepts a key as 64 hex characters or base64 of 32 bytes, and nothing shorter', () => {
    assert.equal(parseConfigKey('ab'.repeat(32)).length, 32);
    assert.equal(parseConfigKey(Buffer.alloc(32, 7).toString('base64')).length, 32);
    assert.throws(() => parseConfigKey('c2hvcnQ='), /32 bytes/);
  });

  it('hashes API keys with sha256 hex', () => {
    assert.equal(
      hashApiKey('abc'),
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { ErrorCode, isHeraldError } from '../../core/errors.js';
import {
  checkSigningSecret,
  decodeSigningSecret,
  signWebhook,
  verifyWebhook,
  VerifyFailure,
} from '../../core/signing.js';

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

describe('Standard Webhooks signing', () => {
  it('produces signatures the standardwebhooks package verifies, for each rotated secret', () => {
    const [oldSecret, newer] = [newSecret(), newSecret()];
    const body = JSON.stringify({ orderId: 'o-1', total: 12.5, note: 'ünïcødé' });
    const ts = Math.floor(Date.now() / 1000);
    const signature = signWebhook([oldSecret, newer], 'msg_1', ts, body);
    assert.equal(signature.split(' ').length, 2);
    const headers = {
      'webhook-id': 'msg_1',
      'webhook-timestamp': String(ts),
      'webhook-signature': signature,
    };
    for (const s of [oldSecret, newer])
      assert.deepEqual(new Webhook(s).verify(body, headers), JSON.parse(body));
    assert.throws(() => new Webhook(newSecret()).verify(body, headers));
  });

  it('verifies what the standardwebhooks package signs, and rejects tampering and stale timestamps', () => {
    const secret = newSecret();
    const body = '{"a":1}';
    const now = Math.floor(Date.now() / 1000);
    const sig = new Webhook(secret).sign('msg_2', new Date(now * 1000), body);
    const headers = { id: 'msg_2', timestamp: String(now), signature: sig };
    assert.deepEqual(verifyWebhook([secret], headers, body), { ok: true });
    assert.deepEqual(verifyWebhook([secret], headers, '{"a":2}'), {
      ok: false,
      reason: VerifyFailure.NoMatchingSignature,
    });
    assert.deepEqual(verifyWebhook([secret], headers, body, { nowSeconds: now + 301 }), {
      ok: false,
      reason: VerifyFailure.TimestampOutOfTolerance,
    });
    assert.deepEqual(verifyWebhook([secret], { id: 'msg_2' }, body), {
      ok: false,
      reason: VerifyFailure.MissingHeaders,
    });
  });

  it('decodes a secret without the whsec_ prefix as base64, as the standardwebhooks reference does', () => {
    const raw = randomBytes(32).toString('base64');
    const body = '{"a":1}';
    const ts = Math.floor(Date.now() / 1000);
    const signature = signWebhook([raw], 'msg_3', ts, body);
    const headers = {
      'webhook-id': 'msg_3',
      'webhook-timestamp': String(ts),
      'webhook-signature': signature,
    };
    assert.deepEqual(new Webhook(raw).verify(body, headers), { a: 1 });
    assert.deepEqual(new Webhook(`whsec_${raw}`).verify(body, headers), { a: 1 });
    assert.deepEqual(decodeSigningSecret(raw), decodeSigningSecret(`whsec_${raw}`));
    const theirs = new Webhook(raw).sign('msg_3', new Date(ts * 1000), body);
    assert.deepEqual(
      verifyWebhook([raw], { id: 'msg_3', timestamp: String(ts), signature: theirs }, body),
      { ok: true },
    );
  });

  const malformed = [
    ['no padding', 'whsec_QUJDRA'],
    ['a character outside base64', 'whsec_QUJD*A=='],
    ['whitespace', 'whsec_QUJD RA=='],
    ['url-safe alphabet', 'whsec_-_-_'],
    ['non-canonical trailing bits', 'whsec_QR=='],
    ['nothing after the prefix', 'whsec_'],
    ['not base64 and no prefix', 'plain text secret'],
  ] as const;
  for (const [what, secret] of malformed) {
    it(`refuses a secret with ${what} with a typed error that does not echo it`, () => {
      assert.throws(
        () => decodeSigningSecret(secret),
        (err: unknown) =>
          isHeraldError(err, ErrorCode.InvalidSigningSecret) &&
          !err.message.includes(secret.slice(6) || '\0'),
      );
      // Verifying with it matches nothing rather than throwing on a request path.
      assert.deepEqual(
        verifyWebhook([secret], { id: 'm', timestamp: '1', signature: 'v1,AAAA' }, '', {
          nowSeconds: 1,
        }),
        { ok: false, reason: VerifyFailure.NoMatchingSignature },
      );
    });
  }

  it('accepts only whsec_ + base64 of 24–64 bytes as a resource secret', () => {
    const of = (n: number) => randomBytes(n).toString('base64');
    for (const ok of [`whsec_${of(24)}`, `whsec_${of(32)}`, `whsec_${of(64)}`])
      checkSigningSecret(ok);
    const refused = [of(32), `whsec_${of(23)}`, `whsec_${of(65)}`, 'whsec_QR=='];
    for (const bad of refused) {
      assert.throws(
        () => checkSigningSecret(bad),
        (err: unknown) => isHeraldError(err, ErrorCode.InvalidSigningSecret),
        bad,
      );
    }
  });
});

import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { signWebhook, verifyWebhook, VerifyFailure } from '../../core/signing.js';

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
});

import { strict as assert } from 'node:assert';
import {
  configKeyFor,
  ConfigKeyPrefix,
  consumerNameFor,
  dlqSubjectFor,
  ledgerKeyFor,
  messageIdFor,
  parseConfigKey,
  streamNameFor,
  subjectFor,
} from '../../core/topology.js';

describe('topology', () => {
  it('names streams, subjects, consumers and dead letters as DESIGN.md §3 says', () => {
    assert.equal(streamNameFor('shop', 'order-created'), 'HERALD_EVT_shop_order-created');
    assert.equal(subjectFor('shop', 'order-created'), 'herald.evt.shop.order-created');
    assert.equal(consumerNameFor('partner-orders'), 'partner-orders');
    assert.equal(dlqSubjectFor('shop', 'partner-orders'), 'herald.dlq.shop.partner-orders');
  });

  it('round-trips config keys and refuses foreign ones', () => {
    const key = configKeyFor(ConfigKeyPrefix.Subscription, 'shop', 'partner-orders');
    assert.equal(key, 'subscription.shop.partner-orders');
    assert.deepEqual(parseConfigKey(key), {
      prefix: 'subscription',
      namespace: 'shop',
      name: 'partner-orders',
    });
    for (const bad of ['other.shop.x', 'eventtype.shop', 'eventtype.a.b.c', '']) {
      assert.equal(parseConfigKey(bad), undefined, bad);
    }
  });

  it('gives one message id per (namespace, source, id) with no ambiguity between the parts', () => {
    const a = messageIdFor('shop', 'https://a/b', 'c');
    assert.equal(a, messageIdFor('shop', 'https://a/b', 'c'));
    assert.notEqual(a, messageIdFor('shop', 'https://a/', 'bc'));
    assert.notEqual(a, messageIdFor('other', 'https://a/b', 'c'));
    assert.match(ledgerKeyFor('shop', 'sub', a), /^[-_=.a-zA-Z0-9]+$/);
  });

  it('keeps the message ids already stored (dedup across versions): fixed values', () => {
    // sha256 over "4:shop11:https://a/b1:c" (byte lengths), base64url.
    assert.equal(
      messageIdFor('shop', 'https://a/b', 'c'),
      '_BlU3zYHq1j-0I0q0IgRrPAfpVuiwp5NOg2Jvl2VR7s',
    );
    assert.equal(
      messageIdFor('shop', '/größe', 'ü-1'),
      'iqrpse4VfQjkdbnb8R4d2jGTFzve3DMnPPBzo8rRfYk',
    );
  });
});

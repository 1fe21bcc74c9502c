import { strict as assert } from 'node:assert';
import { buildProducerRules, isSourceAllowed } from '../../broker/producer-rules.js';
import { buildProducer } from './fixture.js';

/** Authorization by `source`: DESIGN.md §2, "allowed `source` patterns (* = any suffix)". */
function allows(patterns: string[], source: string): boolean {
  return isSourceAllowed(buildProducerRules(buildProducer('p', [], [], patterns)), source);
}

describe('broker auth: source patterns', () => {
  it('an empty list allows any source, and so does a lone *', () => {
    for (const patterns of [[], ['*']]) {
      for (const source of ['https://acme.example/x', 'urn:x', '/relative', 'a']) {
        assert.equal(allows(patterns, source), true, `${JSON.stringify(patterns)} ${source}`);
      }
    }
  });

  it('a pattern without * matches exactly, case included', () => {
    const patterns = ['https://acme.example/orders'];
    assert.equal(allows(patterns, 'https://acme.example/orders'), true);
    for (const source of [
      'https://acme.example/orders/1',
      'https://acme.example/order',
      'https://acme.example/orders/',
      'https://ACME.example/orders',
      'https://acme.example/orders ',
    ]) {
      assert.equal(allows(patterns, source), false, source);
    }
  });

  it('a trailing * matches any suffix, including none, and nothing else', () => {
    const patterns = ['https://acme.example/*'];
    for (const source of [
      'https://acme.example/',
      'https://acme.example/shop/eu',
      'https://acme.example/../evil',
    ]) {
      assert.equal(allows(patterns, source), true, source);
    }
    for (const source of [
      'https://acme.example.evil.com',
      'https://acme.example.evil.com/x',
      'https://acme.example',
      'https://acme.exampl/',
      'http://acme.example/x',
      'https://evil.example/https://acme.example/',
      'xhttps://acme.example/',
      '',
    ]) {
      assert.equal(allows(patterns, source), false, source);
    }
  });

  it('a * after the host, not after a /, also matches look-alike hosts (as written)', () => {
    // The pattern says "any suffix": docs/producer-auth.md advises ending host patterns with /*.
    assert.equal(allows(['https://acme.example*'], 'https://acme.example.evil.com'), true);
  });

  it('several patterns: any one matching allows the source', () => {
    const patterns = ['urn:acme:orders', 'https://acme.example/eu/*', 'https://acme.example/us/*'];
    assert.equal(allows(patterns, 'urn:acme:orders'), true);
    assert.equal(allows(patterns, 'https://acme.example/us/1'), true);
    assert.equal(allows(patterns, 'urn:acme:orders:1'), false);
    assert.equal(allows(patterns, 'https://acme.example/ap/1'), false);
  });
});

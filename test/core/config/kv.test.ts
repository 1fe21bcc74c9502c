import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { jetstream } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  ConfigCache,
  openConfigBucket,
  watchConfig,
  writeCompiledConfig,
  type ConfigChange,
} from '../../../core/config/kv.js';
import {
  CONFIG_FORMAT,
  type CompiledConfig,
  type CompiledEventType,
  type CompiledProducer,
} from '../../../core/config/model.js';
import { startTestNatsServer, type TestNatsServer } from '../../support/nats-server.js';

function eventType(name: string, type: string): CompiledEventType {
  return {
    format: CONFIG_FORMAT,
    namespace: 'shop',
    name,
    generation: 1,
    type,
    schemaDigest: '',
    dataContentType: 'application/json',
    deprecated: false,
    stream: `HERALD_EVT_shop_${name}`,
    subject: `herald.evt.shop.${name}`,
  };
}

function producer(hashes: string[]): CompiledProducer {
  return {
    format: CONFIG_FORMAT,
    namespace: 'shop',
    name: 'acme',
    generation: 1,
    eventTypes: ['order-created'],
    sources: [],
    apiKeyHashes: hashes,
  };
}

describe('config bucket', () => {
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let kv: KV;

  beforeEach(async () => {
    nats = await startTestNatsServer();
    nc = await nats.connect();
    kv = await openConfigBucket(jetstream(nc));
  });
  afterEach(() => nats.stop());

  it('writes only the entries that changed and deletes the ones no longer wanted', async () => {
    const config: CompiledConfig = {
      eventTypes: [eventType('order-created', 'com.example.order.created')],
      producers: [producer(['h1'])],
      subscriptions: [],
    };
    const first = await writeCompiledConfig(kv, config);
    assert.deepEqual(first.put.sort(), ['eventtype.shop.order-created', 'producer.shop.acme']);
    assert.deepEqual(await writeCompiledConfig(kv, config), { put: [], deleted: [] });
    const second = await writeCompiledConfig(kv, { ...config, producers: [] });
    assert.deepEqual(second, { put: [], deleted: ['producer.shop.acme'] });
  });

  it('loads existing entries before resolving and follows puts and deletes with lookups', async () => {
    await writeCompiledConfig(kv, {
      eventTypes: [eventType('order-created', 'com.example.order.created')],
      producers: [producer(['h1', 'h2'])],
      subscriptions: [],
    });
    const { cache, stop } = await watchConfig(kv);
    try {
      assert.equal(cache.loaded, true);
      assert.equal(
        cache.findEventTypeByCeType('shop', 'com.example.order.created')?.name,
        'order-created',
      );
      assert.equal(cache.findProducerByApiKeyHash('h2')?.name, 'acme');

      // Rotation: h1 goes, h3 comes; the old hash must stop resolving.
      const changed = once(cache, 'change') as Promise<[ConfigChange]>;
      await kv.put('producer.shop.acme', JSON.stringify(producer(['h2', 'h3'])));
      const [change] = await changed;
      assert.equal(change.key, 'producer.shop.acme');
      assert.equal(cache.findProducerByApiKeyHash('h1'), undefined);
      assert.equal(cache.findProducerByApiKeyHash('h3')?.name, 'acme');

      const deleted = once(cache, 'change') as Promise<[ConfigChange]>;
      await kv.delete('eventtype.shop.order-created');
      assert.equal((await deleted)[0].value, undefined);
      assert.equal(cache.findEventTypeByCeType('shop', 'com.example.order.created'), undefined);
    } finally {
      stop();
    }
  });

  it('resolves on an empty bucket, and ignores foreign keys and other config formats', async () => {
    const { cache, stop } = await watchConfig(kv);
    try {
      assert.equal(cache.loaded, true);
      await kv.put('unrelated-key', '{}');
      await kv.put(
        'eventtype.shop.future',
        JSON.stringify({ ...eventType('future', 't'), format: 2 }),
      );
      const applied = once(cache, 'change') as Promise<[ConfigChange]>;
      await kv.put('eventtype.shop.now', JSON.stringify(eventType('now', 'com.example.now')));
      assert.equal((await applied)[0].name, 'now');
      assert.equal(cache.findEventType('shop', 'future'), undefined);
      assert.equal(cache.eventTypes.size, 1);
    } finally {
      stop();
    }
  });
});

describe('config cache indexes', () => {
  it('keeps a type and an API key resolvable across a rename (new entry put before the old is deleted)', async () => {
    const cache = new ConfigCache();
    cache.applyEntry('eventtype.shop.orders', eventType('orders', 'com.example.order.created'));
    cache.applyEntry('producer.shop.acme', producer(['h1']));
    cache.applyEntry(
      'eventtype.shop.order-created',
      eventType('order-created', 'com.example.order.created'),
    );
    cache.applyEntry('producer.shop.acme-corp', { ...producer(['h1']), name: 'acme-corp' });
    cache.applyEntry('eventtype.shop.orders', undefined);
    cache.applyEntry('producer.shop.acme', undefined);
    assert.equal(
      cache.findEventTypeByCeType('shop', 'com.example.order.created')?.name,
      'order-created',
    );
    assert.equal(cache.findProducerByApiKeyHash('h1')?.name, 'acme-corp');
  });
});

/**
 * Writes a compiled config to the fixture's KV bucket and resolves once the broker's live
 * config holds exactly it (awaiting the cache's `change` events, never polling).
 */
import { serializeCompiledConfig, writeCompiledConfig } from '../../core/config/kv.js';
import type { CompiledConfig } from '../../core/config/model.js';
import { ConfigKeyPrefix, parseConfigKey } from '../../core/topology.js';
import type { RunningBroker } from '../../broker/main.js';
import type { BrokerFixture } from './fixture.js';

function holdsExactly(broker: RunningBroker, desired: Map<string, string>): boolean {
  const cache = broker.config;
  const maps = {
    [ConfigKeyPrefix.EventType]: cache.eventTypes,
    [ConfigKeyPrefix.Producer]: cache.producers,
    [ConfigKeyPrefix.Subscription]: cache.subscriptions,
  };
  let count = 0;
  for (const [key, text] of desired) {
    const parsed = parseConfigKey(key);
    if (!parsed) continue;
    const entry = maps[parsed.prefix].get(`${parsed.namespace}/${parsed.name}`);
    if (entry === undefined || JSON.stringify(entry) !== text) return false;
    count++;
  }
  const held = cache.eventTypes.size + cache.producers.size + cache.subscriptions.size;
  return held === count;
}

export async function applyConfig(
  fx: BrokerFixture,
  config: CompiledConfig,
  brokers: RunningBroker[] = [fx.broker],
): Promise<void> {
  const desired = serializeCompiledConfig(config);
  await Promise.all([
    ...brokers.map(
      (broker) =>
        new Promise<void>((resolve) => {
          const check = (): void => {
            if (!holdsExactly(broker, desired)) return;
            broker.config.off('change', check);
            resolve();
          };
          broker.config.on('change', check);
          check();
        }),
    ),
    writeCompiledConfig(fx.kv, config),
  ]);
}

/**
 * What a producer may publish, as lookups built once per config entry: the EventType names it
 * is listed for and its `source` patterns (`*` = any suffix, empty list = any source).
 */
import type { CompiledProducer } from '../core/config/model.js';

/** Per-producer lookups built once per config entry (a new entry is a new object). */
export interface ProducerRules {
  id: string;
  eventTypes: Set<string>;
  anySource: boolean;
  exactSources: Set<string>;
  sourcePrefixes: string[];
}

export function buildProducerRules(p: CompiledProducer): ProducerRules {
  const rules: ProducerRules = {
    id: `${p.namespace}/${p.name}`,
    eventTypes: new Set(p.eventTypes),
    anySource: p.sources.length === 0,
    exactSources: new Set(),
    sourcePrefixes: [],
  };
  for (const pattern of p.sources) {
    if (pattern.endsWith('*')) {
      const prefix = pattern.slice(0, -1);
      if (prefix === '') rules.anySource = true;
      else rules.sourcePrefixes.push(prefix);
    } else rules.exactSources.add(pattern);
  }
  return rules;
}

export function isSourceAllowed(rules: ProducerRules, source: string): boolean {
  if (rules.anySource || rules.exactSources.has(source)) return true;
  for (const prefix of rules.sourcePrefixes) if (source.startsWith(prefix)) return true;
  return false;
}

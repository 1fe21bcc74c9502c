/** Resource builders shared by the operator's compile tests. */
import { generateConfigKey, parseConfigKey } from '../../core/config/seal.js';
import {
  API_VERSION,
  type EventType,
  type EventTypeSpec,
  type HeraldResource,
  type Producer,
  type ProducerSpec,
  type Secret,
  type Subscription,
  type SubscriptionSpec,
} from '../../core/resources/types.js';
import { compileResources } from '../../operator/compile.js';

export const configKey = parseConfigKey(generateConfigKey());
export const NS = 'shop';

export const eventType = (
  name: string,
  spec: Partial<EventTypeSpec> = {},
  namespace = NS,
): EventType => ({
  apiVersion: API_VERSION,
  kind: 'EventType',
  metadata: { name, namespace },
  spec: { type: `com.example.${name}`, ...spec },
});

export const producer = (
  name: string,
  spec: Partial<ProducerSpec> = {},
  namespace = NS,
): Producer => ({
  apiVersion: API_VERSION,
  kind: 'Producer',
  metadata: { name, namespace },
  spec: { eventTypes: ['order-created'], auth: {}, ...spec },
});

export const subscription = (
  name: string,
  spec: Partial<SubscriptionSpec> = {},
  namespace = NS,
): Subscription => ({
  apiVersion: API_VERSION,
  kind: 'Subscription',
  metadata: { name, namespace },
  spec: { eventTypes: ['order-created'], sink: { uri: 'https://partner.example/hook' }, ...spec },
});

export const secret = (
  name: string,
  stringData: Record<string, string>,
  namespace = NS,
): Secret => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace },
  stringData,
});

export const compile = (resources: HeraldResource[], secrets: Secret[] = []) =>
  compileResources({ resources, secrets }, { configKey });

export const orderCreated = eventType('order-created', {
  schema: { type: 'object', required: ['orderId'], properties: { orderId: { type: 'string' } } },
});

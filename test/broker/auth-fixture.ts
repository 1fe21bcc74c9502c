/**
 * Helpers for the producer-authentication tests: a broker fixture with a config key, producers
 * with sealed HMAC secrets or JWT settings, config changes awaited on the brokers' `change`
 * events, and requests signed with the independent `standardwebhooks` package.
 */
import { randomBytes } from 'node:crypto';
import { HTTP, CloudEvent } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { serializeCompiledConfig, writeCompiledConfig } from '../../core/config/kv.js';
import type { CompiledConfig, CompiledProducer } from '../../core/config/model.js';
import { sealSecret } from '../../core/config/seal.js';
import { ConfigKeyPrefix, parseConfigKey } from '../../core/topology.js';
import type { BrokerOptions, RunningBroker } from '../../broker/main.js';
import {
  NS,
  ORDER_CREATED,
  buildBaseConfig,
  buildProducer,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

export const PROBLEM = 'https://herald.dev/problems/';
export const CONFIG_KEY = randomBytes(32);

export function generateWebhookSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** A producer that may publish order-created from https://acme.example/* with these credentials. */
export function buildAuthProducer(
  name: string,
  auth: { apiKeys?: string[]; hmacSecret?: string; jwt?: CompiledProducer['jwt'] },
): CompiledProducer {
  const p = buildProducer(name, auth.apiKeys ?? [], ['order-created'], ['https://acme.example/*']);
  if (auth.hmacSecret !== undefined) p.hmacSecret = sealSecret(CONFIG_KEY, auth.hmacSecret);
  if (auth.jwt !== undefined) p.jwt = auth.jwt;
  return p;
}

export function startAuthBrokerFixture(options: Partial<BrokerOptions> = {}) {
  return startBrokerFixture({ configKey: CONFIG_KEY, ...options });
}

/** The fixture's base config plus `producers`. */
export function buildConfigWith(...producers: CompiledProducer[]): CompiledConfig {
  const config = buildBaseConfig();
  config.producers.push(...producers);
  return config;
}

function holdsExactly(broker: RunningBroker, desired: Map<string, string>): boolean {
  const { config } = broker;
  const maps = {
    [ConfigKeyPrefix.EventType]: config.eventTypes,
    [ConfigKeyPrefix.Producer]: config.producers,
    [ConfigKeyPrefix.Subscription]: config.subscriptions,
  };
  for (const [key, text] of desired) {
    const parsed = parseConfigKey(key);
    const entry = parsed && maps[parsed.prefix].get(`${parsed.namespace}/${parsed.name}`);
    if (entry === undefined || JSON.stringify(entry) !== text) return false;
  }
  return (
    config.eventTypes.size + config.producers.size + config.subscriptions.size === desired.size
  );
}

/** Writes `config` and resolves once every broker's live config holds exactly it. */
export async function applyAuthConfig(
  fx: BrokerFixture,
  config: CompiledConfig,
  brokers: RunningBroker[] = [fx.broker],
): Promise<void> {
  const desired = serializeCompiledConfig(config);
  const applied = brokers.map(
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
  );
  await writeCompiledConfig(fx.kv, config);
  await Promise.all(applied);
}

let seq = 0;

/** A valid order-created event in structured mode: its exact bytes and content type. */
export function buildOrderBody(): { body: string; headers: Record<string, string> } {
  const ce = new CloudEvent<unknown>({
    type: ORDER_CREATED.type,
    source: 'https://acme.example/shop/eu',
    id: `auth-${Date.now()}-${++seq}`,
    data: { orderId: `o-${seq}`, total: 12.5 },
  });
  const message = HTTP.structured(ce);
  return { body: message.body as string, headers: message.headers as Record<string, string> };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

export async function postEvents(
  baseUrl: string,
  headers: Record<string, string>,
  body: string,
): Promise<Answer> {
  const res = await request(`${baseUrl}/events`, { method: 'POST', headers, body });
  const text = await res.body.text();
  return {
    status: res.statusCode,
    headers: res.headers,
    body: text ? (JSON.parse(text) as Record<string, unknown>) : {},
  };
}

export interface SignOptions {
  producer?: string;
  webhookId?: string;
  /** Signing time; default now. */
  at?: Date;
}

/** Standard Webhooks headers for `body`, computed by the `standardwebhooks` package. */
export function signRequest(
  secret: string,
  body: string,
  options: SignOptions & { producerName: string },
): Record<string, string> {
  const id = options.webhookId ?? `msg_${randomBytes(12).toString('hex')}`;
  const at = options.at ?? new Date();
  return {
    'herald-producer': options.producer ?? `${NS}/${options.producerName}`,
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': new Webhook(secret).sign(id, at, body),
  };
}

/**
 * A broker on a real nats-server with a hand-built compiled config (the operator is not
 * involved): namespace `shop`, three EventTypes, two producers, and a stream per EventType
 * except `ghost` (so publishing it finds no stream: a 503).
 */
import { createHash } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { openConfigBucket, writeCompiledConfig } from '../../core/config/kv.js';
import {
  CONFIG_FORMAT,
  type CompiledConfig,
  type CompiledEventType,
  type CompiledProducer,
} from '../../core/config/model.js';
import { hashApiKey } from '../../core/config/seal.js';
import { createLogger } from '../../core/logging.js';
import { streamNameFor, subjectFor } from '../../core/topology.js';
import { startBroker, type BrokerOptions, type RunningBroker } from '../../broker/main.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';

export const NS = 'shop';
export const ACME_KEY = 'acme-key-7f3c9a0d1e2b4c5d';
export const OTHER_KEY = 'other-key-0a1b2c3d4e5f6071';

export const ORDER_SCHEMA = {
  type: 'object',
  required: ['orderId', 'total'],
  properties: { orderId: { type: 'string' }, total: { type: 'number', minimum: 0 } },
};

export function buildEventType(
  name: string,
  type: string,
  schema?: Record<string, unknown>,
): CompiledEventType {
  return {
    format: CONFIG_FORMAT,
    namespace: NS,
    name,
    generation: 1,
    type,
    ...(schema ? { schema } : {}),
    schemaDigest: createHash('sha256')
      .update(JSON.stringify(schema ?? null))
      .digest('hex'),
    dataContentType: 'application/json',
    deprecated: false,
    stream: streamNameFor(NS, name),
    subject: subjectFor(NS, name),
  };
}

export function buildProducer(
  name: string,
  apiKeys: string[],
  eventTypes: string[],
  sources: string[],
): CompiledProducer {
  return {
    format: CONFIG_FORMAT,
    namespace: NS,
    name,
    generation: 1,
    eventTypes,
    sources,
    apiKeyHashes: apiKeys.map(hashApiKey),
  };
}

export const ORDER_CREATED = buildEventType(
  'order-created',
  'com.example.order.created',
  ORDER_SCHEMA,
);
export const ORDER_SHIPPED = buildEventType('order-shipped', 'com.example.order.shipped');
/** Registered, allowed to acme, but no stream exists for it. */
export const GHOST = buildEventType('ghost', 'com.example.ghost');

export function buildBaseConfig(): CompiledConfig {
  return {
    eventTypes: [ORDER_CREATED, ORDER_SHIPPED, GHOST],
    producers: [
      buildProducer(
        'acme',
        [ACME_KEY],
        ['order-created', 'order-shipped', 'ghost'],
        ['https://acme.example/*'],
      ),
      buildProducer('other', [OTHER_KEY], ['order-shipped'], []),
    ],
    subscriptions: [],
  };
}

export interface BrokerFixture {
  nats: TestNatsServer;
  nc: NatsConnection;
  jsm: JetStreamManager;
  kv: KV;
  broker: RunningBroker;
  url: string;
  /** Every log line the broker wrote. */
  logLines: string[];
  stop(): Promise<void>;
}

export async function startBrokerFixture(
  brokerOptions: Partial<BrokerOptions> = {},
): Promise<BrokerFixture> {
  const nats = await startTestNatsServer();
  try {
    const nc = await nats.connect();
    const jsm = await jetstreamManager(nc);
    const kv = await openConfigBucket(jetstream(nc));
    const config = buildBaseConfig();
    await writeCompiledConfig(kv, config);
    for (const et of [ORDER_CREATED, ORDER_SHIPPED]) {
      await jsm.streams.add({
        name: et.stream,
        subjects: [et.subject],
        duplicate_window: 120 * 1e9,
      });
    }
    const logLines: string[] = [];
    const destination = {
      write(chunk: string) {
        logLines.push(chunk);
        return true;
      },
    } as unknown as NodeJS.WritableStream;
    const broker = await startBroker({
      natsUrl: nats.url,
      httpPort: 0,
      host: '127.0.0.1',
      logger: createLogger('broker', { destination }),
      ...brokerOptions,
    });
    return {
      nats,
      nc,
      jsm,
      kv,
      broker,
      url: `http://127.0.0.1:${broker.port}`,
      logLines,
      async stop() {
        await broker.stop();
        await nats.stop();
      },
    };
  } catch (err) {
    await nats.stop();
    throw err;
  }
}

/** Reads back the last message of a stream. */
export async function readLastMessage(jsm: JetStreamManager, stream: string) {
  const info = await jsm.streams.info(stream);
  const msg = await jsm.streams.getMessage(stream, { seq: info.state.last_seq });
  if (!msg) throw new Error(`no message in ${stream}`);
  return { msg, count: info.state.messages };
}

/**
 * Shared setup of the file-mode tests: a fresh nats-server and resource directory per test,
 * the operator's log lines captured as JSON, and the YAML fixtures.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { openConfigBucket } from '../../core/config/kv.js';
import { generateConfigKey, parseConfigKey } from '../../core/config/seal.js';
import { createLogger } from '../../core/logging.js';
import {
  startOperator,
  type OperatorApplyResult,
  type OperatorOptions,
  type RunningOperator,
} from '../../operator/main.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';

export const NS = 'shop';
export const API_KEY = 'acme-file-mode-key-0123456789';
export const SIGNING = 'whsec_ZmlsZS1tb2RlLXNpZ25pbmctc2VjcmV0';
export const ms = (n: number): number => n * 1_000_000;

export const eventTypesYaml = (orderCreated: {
  duplicateWindow: string;
  maxAge: string;
}): string => `
apiVersion: herald.dev/v1alpha1
kind: EventType
metadata: { name: order-created, namespace: ${NS} }
spec:
  type: com.example.order.created
  schema:
    type: object
    required: [orderId]
    properties: { orderId: { type: string } }
  retention: { maxAge: ${orderCreated.maxAge}, maxBytes: 16Mi }
  duplicateWindow: ${orderCreated.duplicateWindow}
---
apiVersion: herald.dev/v1alpha1
kind: EventType
metadata: { name: order-refunded, namespace: ${NS} }
spec:
  type: com.example.order.refunded
  deletionPolicy: Delete
`;

export const producerYaml = `
apiVersion: v1
kind: Namespace
metadata: { name: ${NS} }
---
apiVersion: v1
kind: Secret
metadata: { name: acme-credentials, namespace: ${NS} }
stringData: { api-key: ${API_KEY} }
---
apiVersion: herald.dev/v1alpha1
kind: Producer
metadata: { name: acme, namespace: ${NS} }
spec:
  eventTypes: [order-created]
  sources: ["https://acme.example/*"]
  auth: { apiKeys: [{ secretRef: { name: acme-credentials, key: api-key } }] }
`;

export const subscriptionYaml = (maxAttempts: number): string => `
apiVersion: v1
kind: Secret
metadata: { name: partner-signing, namespace: ${NS} }
stringData: { secret: ${SIGNING} }
---
apiVersion: herald.dev/v1alpha1
kind: Subscription
metadata: { name: partner-orders, namespace: ${NS} }
spec:
  eventTypes: [order-created, order-refunded]
  sink: { uri: "https://partner.example/hooks/orders" }
  delivery:
    signing: { secretRef: { name: partner-signing, key: secret } }
    timeout: 5s
    retry: { maxAttempts: ${maxAttempts} }
    maxInFlight: 3
`;

/** Resolves with the next 'applied' result that satisfies `accept`. Register before acting. */
export function nextApplied(
  op: RunningOperator,
  accept: (r: OperatorApplyResult) => boolean = () => true,
): Promise<OperatorApplyResult> {
  return new Promise((resolve) => {
    const listener = (r: OperatorApplyResult): void => {
      if (!accept(r)) return;
      op.off('applied', listener);
      resolve(r);
    };
    op.on('applied', listener);
  });
}

export interface FileModeHarness {
  nats: TestNatsServer;
  jsm: JetStreamManager;
  kv: KV;
  dir: string;
  logLines: Record<string, unknown>[];
  write(file: string, text: string): void;
  start(watch?: boolean, options?: Partial<OperatorOptions>): Promise<RunningOperator>;
  consumerConfig(stream: string, durable: string): ReturnType<typeof consumerConfigOf>;
  streamExists(name: string): Promise<boolean>;
}

const consumerConfigOf = async (jsm: JetStreamManager, stream: string, durable: string) =>
  (await jsm.consumers.info(stream, durable)).config;

/** Registers beforeEach/afterEach in the calling describe(); fields are fresh in every test. */
export function useFileModeHarness(): FileModeHarness {
  let op: RunningOperator | undefined;
  const configKey = parseConfigKey(generateConfigKey());
  const h = {} as FileModeHarness;
  Object.assign(h, {
    logLines: [],
    write: (file, text) => writeFileSync(join(h.dir, file), text),
    async start(watch = false, options: Partial<OperatorOptions> = {}) {
      const destination = new Writable({
        write(chunk: Buffer, _enc, done) {
          for (const line of chunk.toString('utf8').split('\n').filter(Boolean))
            h.logLines.push(JSON.parse(line));
          done();
        },
      });
      const logger = createLogger('operator', { level: 'debug', destination });
      op = await startOperator({
        natsUrl: h.nats.url,
        resourcesDir: h.dir,
        configKey,
        logger,
        watch,
        debounceMs: 50,
        ...options,
      });
      return op;
    },
    consumerConfig: (stream, durable) => consumerConfigOf(h.jsm, stream, durable),
    streamExists: (name) =>
      h.jsm.streams.info(name).then(
        () => true,
        () => false,
      ),
  } satisfies Partial<FileModeHarness>);

  beforeEach(async () => {
    h.nats = await startTestNatsServer();
    const nc = await h.nats.connect();
    h.jsm = await jetstreamManager(nc);
    h.kv = await openConfigBucket(jetstream(nc));
    h.dir = mkdtempSync(join(tmpdir(), 'herald-operator-'));
    h.logLines = [];
    h.write('event-types.yaml', eventTypesYaml({ duplicateWindow: '1m', maxAge: '24h' }));
    h.write('producer.yaml', producerYaml);
    h.write('subscription.yml', subscriptionYaml(4));
  });

  afterEach(async () => {
    await op?.stop();
    op = undefined;
    await h.nats.stop();
    rmSync(h.dir, { recursive: true, force: true });
  });
  return h;
}

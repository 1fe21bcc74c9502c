/**
 * Shared pieces for the dispatcher tests: a recording HTTP sink, compiled-config builders, and
 * the JetStream streams/consumers the operator would otherwise create.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { openConfigBucket, writeCompiledConfig } from '../../core/config/kv.js';
import { CONFIG_FORMAT, type CompiledSubscription } from '../../core/config/model.js';
import { createLogger, type Logger } from '../../core/logging.js';
import {
  DLQ_STREAM,
  DLQ_SUBJECTS,
  messageIdFor,
  streamNameFor,
  subjectFor,
} from '../../core/topology.js';
import { buildConsumerConfig } from '../../operator/jetstream-config.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  receivedAt: number;
}

export interface SinkReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Answer only after this long. */
  delayMs?: number;
}

/** How the sink answers request number `index` (0-based); 'hang' holds it until release(). */
export type SinkResponder = (req: RecordedRequest, index: number) => SinkReply | 'hang';

export interface TestSink {
  url: string;
  requests: RecordedRequest[];
  /** Resolves once the sink has received `count` requests in total. */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  /** Answers every held ('hang') request with 200. */
  release(): void;
  stop(): Promise<void>;
}

export async function startTestSink(
  respond: SinkResponder = () => ({ status: 200 }),
): Promise<TestSink> {
  const requests: RecordedRequest[] = [];
  const held: ServerResponse[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        text: body.toString('utf8'),
        receivedAt: Date.now(),
      };
      const index = requests.push(recorded) - 1;
      const reply = respond(recorded, index);
      if (reply === 'hang') held.push(res);
      else {
        const answer = () => res.writeHead(reply.status, reply.headers).end(reply.body ?? '');
        if (reply.delayMs) setTimeout(answer, reply.delayMs);
        else answer();
      }
      waiters = waiters.filter((w) => (requests.length >= w.count ? (w.resolve(), false) : true));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    requests,
    waitForRequests(count, timeoutMs = 15_000) {
      if (requests.length >= count) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`sink saw ${requests.length} of ${count} requests`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests.slice());
          },
        });
      });
    },
    release() {
      for (const res of held.splice(0)) res.writeHead(200).end();
    },
    async stop() {
      for (const res of held.splice(0)) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface Harness {
  nats: TestNatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  kv: KV;
  configKey: Buffer;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const nats = await startTestNatsServer();
  const nc = await nats.connect();
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const kv = await openConfigBucket(js);
  await jsm.streams.add({ name: DLQ_STREAM, subjects: [DLQ_SUBJECTS] });
  return { nats, nc, js, jsm, kv, configKey: randomBytes(32), stop: () => nats.stop() };
}

let uniqueCounter = 0;
/** A fresh DNS-label namespace per test, so streams never collide within a suite. */
export function uniqueNamespace(): string {
  return `t${++uniqueCounter}-${randomBytes(3).toString('hex')}`;
}

export const EVENT_TYPE = 'order-created';
export const CE_TYPE = 'com.example.order.created';

type SubscriptionOverrides = Partial<Omit<CompiledSubscription, 'delivery' | 'sink'>> & {
  sink?: Partial<CompiledSubscription['sink']>;
  delivery?: Partial<Omit<CompiledSubscription['delivery'], 'retry'>> & {
    retry?: Partial<CompiledSubscription['delivery']['retry']>;
  };
};

/** A compiled subscription on one event type, with fast retries unless overridden. */
export function buildSubscription(
  namespace: string,
  name: string,
  sinkUri: string,
  overrides: SubscriptionOverrides = {},
): CompiledSubscription {
  const eventType = overrides.eventTypes?.[0] ?? EVENT_TYPE;
  const { sink, delivery, ...rest } = overrides;
  return {
    format: CONFIG_FORMAT,
    namespace,
    name,
    generation: 1,
    eventTypes: [eventType],
    filters: [],
    startFrom: 'earliest',
    paused: false,
    consumers: [{ eventType, stream: streamNameFor(namespace, eventType), durable: name }],
    ...rest,
    sink: { uri: sinkUri, verification: 'none', ...sink },
    delivery: {
      mode: 'binary',
      signingSecrets: [],
      timeoutMs: 5_000,
      // As the operator compiles it: ordered means one in flight.
      maxInFlight: delivery?.ordering === 'ordered' ? 1 : 4,
      ordering: 'none',
      ...delivery,
      retry: {
        maxAttempts: 5,
        backoff: 'exponential',
        initialDelayMs: 20,
        maxDelayMs: 200,
        retryAfterMaxMs: 60_000,
        ...delivery?.retry,
      },
    },
  };
}

export async function ensureEventStream(
  jsm: JetStreamManager,
  namespace: string,
  eventType = EVENT_TYPE,
): Promise<void> {
  await jsm.streams.add({
    name: streamNameFor(namespace, eventType),
    subjects: [subjectFor(namespace, eventType)],
  });
}

/**
 * The durable consumer the operator creates for `sub` on its first event type — built by the
 * operator's own buildConsumerConfig, so these tests run against the real settings
 * (max_deliver, max_ack_pending…); only ack_wait may be overridden.
 */
export async function ensureConsumer(
  jsm: JetStreamManager,
  sub: CompiledSubscription,
  ackWaitMs?: number,
): Promise<void> {
  const consumer = sub.consumers[0];
  if (!consumer) throw new Error('subscription has no consumer');
  await jsm.consumers.add(consumer.stream, {
    ...buildConsumerConfig(sub, consumer),
    ...(ackWaitMs !== undefined && { ack_wait: ackWaitMs * 1_000_000 }),
  });
}

export async function writeSubscriptions(
  kv: KV,
  subscriptions: CompiledSubscription[],
): Promise<void> {
  await writeCompiledConfig(kv, { eventTypes: [], producers: [], subscriptions });
}

export interface TestEvent {
  id: string;
  source?: string;
  type?: string;
  subject?: string;
  data?: unknown;
  [extension: string]: unknown;
}

/** Stores an event the way the broker does: structured JSON, Nats-Msg-Id, Herald-Producer. */
export async function publishEvent(
  js: JetStreamClient,
  namespace: string,
  event: TestEvent,
  eventType = EVENT_TYPE,
): Promise<number> {
  const structured = {
    specversion: '1.0',
    source: 'https://acme.example/orders',
    type: CE_TYPE,
    datacontenttype: 'application/json',
    ...event,
  };
  const h = natsHeaders();
  h.set('Nats-Msg-Id', messageIdFor(namespace, structured.source, structured.id));
  h.set('Herald-Producer', 'acme');
  const ack = await js.publish(subjectFor(namespace, eventType), JSON.stringify(structured), {
    headers: h,
  });
  return ack.seq;
}

/** Polls `check` until it returns a value other than undefined (for state with no event to await). */
export async function waitFor<T>(
  check: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Resolves when the consumer has acked (or termed) through `seq` with nothing outstanding. */
export function waitForSettled(
  jsm: JetStreamManager,
  sub: CompiledSubscription,
  seq: number,
): Promise<true> {
  const c = sub.consumers[0]!;
  return waitFor(async () => {
    const info = await jsm.consumers.info(c.stream, c.durable);
    return info.ack_floor.stream_seq >= seq && info.num_ack_pending === 0 ? true : undefined;
  }, `${sub.name} to settle through seq ${seq}`);
}

/** A logger whose JSON lines the test can read. */
export function createCapturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  return { logger: createLogger('dispatcher', { level: 'debug', destination }), lines };
}

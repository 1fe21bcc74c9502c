/**
 * The attempt log's limits (`--attempts-max-age`, `--attempts-max-bytes`,
 * `--attempts-max-per-subject`) against a real nats-server: HERALD_ATTEMPTS gets them in both
 * operator modes, a stream made with other limits is updated in place keeping its records, the
 * per-subscription cap keeps a busy subscription from pushing out a quiet one's records, and a
 * value JetStream could not take stops the operator before it creates anything.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ATTEMPT_LOG_FLAGS, readAttemptLogLimits } from '../../cli/attempt-log-flags.js';
import { parseCommandFlags, type CommandSpec } from '../../cli/flags.js';
import { generateConfigKey, parseConfigKey } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import { ATTEMPTS_STREAM, attemptsSubjectFor } from '../../core/topology.js';
import type { AttemptLogEntry } from '../../dispatcher/attempts-log.js';
import {
  buildSystemStreamConfigs,
  type AttemptLogLimits,
} from '../../operator/jetstream-config.js';
import { startOperator, type RunningOperator } from '../../operator/main.js';
import { startKubeApiServer, type KubeApiServer } from '../support/kube-apiserver/server.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { spawnHerald, type HeraldProcess } from '../support/processes.js';
import { NO_NATS_AUTH_ENV } from '../support/secured-nats.js';

const NS = 'shop';
const HOUR_MS = 3_600_000;
const nanos = (ms: number): number => ms * 1_000_000;
const MIB = 1024 * 1024;

/** No HERALD_ATTEMPTS_* from the test runner's own environment. */
const NO_LIMITS_ENV = {
  HERALD_ATTEMPTS_MAX_AGE: '',
  HERALD_ATTEMPTS_MAX_BYTES: '',
  HERALD_ATTEMPTS_MAX_PER_SUBJECT: '',
  HERALD_SYSTEM_REPLICAS: '',
} as const;

const EVENT_TYPE_YAML = `
apiVersion: herald.dev/v1alpha1
kind: EventType
metadata: { name: order-created, namespace: ${NS} }
spec:
  type: com.example.order.created
`;

/** A record as a dispatcher writes it (a failed attempt with a response excerpt: ~0.5 KiB). */
function recordOf(subscription: string, i: number): string {
  const entry: AttemptLogEntry = {
    time: new Date().toISOString(),
    subscription: `${NS}/${subscription}`,
    eventId: `${subscription}-${i}`,
    eventType: 'com.example.order.created',
    source: 'https://acme.example/orders',
    webhookId: `msg_${subscription}_${i}`,
    stream: 'HERALD_EVT_shop_order-created',
    sequence: i + 1,
    attempt: 1,
    maxAttempts: 5,
    outcome: 'retry',
    status: 503,
    error: 'sink answered HTTP 503',
    responseExcerpt: '{"error":"overloaded, try again later"}'.padEnd(200, ' '),
    retryInMs: 900,
    latencyMs: 3.5,
  };
  return JSON.stringify(entry);
}

/** Stores records `<subscription>-<from>` … `-<to - 1>`, acknowledged by the stream. */
async function storeRecords(
  js: JetStreamClient,
  subscription: string,
  from: number,
  to: number,
): Promise<void> {
  let batch: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) {
    batch.push(js.publish(attemptsSubjectFor(NS, subscription), recordOf(subscription, i)));
    if (batch.length >= 256) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}

/** Records stored per subscription (by subject). */
async function countsOf(jsm: JetStreamManager): Promise<Record<string, number>> {
  const info = await jsm.streams.info(ATTEMPTS_STREAM, { subjects_filter: '>' });
  const counts: Record<string, number> = {};
  for (const [subject, n] of Object.entries(info.state.subjects ?? {}))
    counts[subject.slice(subject.lastIndexOf('.') + 1)] = n;
  return counts;
}

/** The event ids of a subscription's stored records, oldest first (as `herald attempts` reads them). */
async function eventIdsOf(
  js: JetStreamClient,
  jsm: JetStreamManager,
  subscription: string,
): Promise<string[]> {
  const count = (await countsOf(jsm))[subscription] ?? 0;
  const consumer = await js.consumers.get(ATTEMPTS_STREAM, {
    filter_subjects: attemptsSubjectFor(NS, subscription),
  });
  const ids: string[] = [];
  for await (const m of await consumer.fetch({ max_messages: count, expires: 5_000 }))
    ids.push(m.json<AttemptLogEntry>().eventId);
  await consumer.delete();
  return ids;
}

/** `<subscription>-<from>` … `-<to - 1>`. */
const idsFrom = (subscription: string, from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, k) => `${subscription}-${from + k}`);

/** The limits part of HERALD_ATTEMPTS's config. */
async function limitsOf(
  jsm: JetStreamManager,
): Promise<Pick<StreamConfig, 'max_age' | 'max_bytes' | 'max_msgs_per_subject'>> {
  const { max_age, max_bytes, max_msgs_per_subject } = (await jsm.streams.info(ATTEMPTS_STREAM))
    .config;
  return { max_age, max_bytes, max_msgs_per_subject };
}

/** The operator's limit flags, parsed as `herald operator` parses them. */
const OPERATOR_LIMITS: CommandSpec = {
  summary: 'operator',
  flags: ['attempts-max-age', 'attempts-max-bytes', 'attempts-max-per-subject'],
};

/** What the operator prints (after `herald operator: `) for a value it refuses. */
function refusal(limit: 'age' | 'bytes' | 'perSubject', got: string): string {
  switch (limit) {
    case 'age':
      return `--attempts-max-age (HERALD_ATTEMPTS_MAX_AGE) must be a duration of at least 1s, like 7d, 36h or 1h30m, got "${got}"`;
    case 'bytes':
      return `--attempts-max-bytes (HERALD_ATTEMPTS_MAX_BYTES) must be a positive byte size: a whole number with an optional suffix (Ki, Mi, Gi, Ti, k, M, G, T), like 256Mi, got "${got}"`;
    case 'perSubject':
      return `--attempts-max-per-subject (HERALD_ATTEMPTS_MAX_PER_SUBJECT) must be a whole number of at least 1, got "${got}"`;
  }
}

/** HERALD_ATTEMPTS as Herald made it before its limits could be set: 7 d, 256 MiB, no cap. */
async function createOldAttemptsStream(jsm: JetStreamManager): Promise<void> {
  const current = buildSystemStreamConfigs().find((s) => s.name === ATTEMPTS_STREAM);
  assert.ok(current);
  const { max_msgs_per_subject: _cap, ...old } = current;
  await jsm.streams.add({ ...old, max_age: nanos(7 * 24 * HOUR_MS), max_bytes: 256 * MIB });
  assert.equal((await limitsOf(jsm)).max_msgs_per_subject, -1, 'no per-subject cap');
}

describe('attempt-log limits (--attempts-max-*)', function () {
  this.timeout(120_000);
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let js: JetStreamClient;
  let dir: string;
  const configKey = generateConfigKey();
  const processes: HeraldProcess[] = [];
  const operators: RunningOperator[] = [];
  let api: KubeApiServer | undefined;

  before(async () => {
    nats = await startTestNatsServer();
    nc = await nats.connect();
    jsm = await jetstreamManager(nc);
    js = jetstream(nc);
  });
  after(() => nats?.stop());

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-attempt-log-'));
    writeFileSync(join(dir, 'event-types.yaml'), EVENT_TYPE_YAML);
  });

  // Each test starts from an empty JetStream.
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.stop()));
    await Promise.all(operators.splice(0).map((o) => o.stop()));
    await api?.close();
    api = undefined;
    rmSync(dir, { recursive: true, force: true });
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    for (const name of names) await jsm.streams.delete(name);
  });

  const startOperatorProcess = (args: string[], env: NodeJS.ProcessEnv = {}): HeraldProcess => {
    const p = spawnHerald(['operator', '--nats', nats.url, ...args], {
      ...NO_NATS_AUTH_ENV,
      ...NO_LIMITS_ENV,
      HERALD_CONFIG_KEY: configKey,
      ...env,
    });
    processes.push(p);
    return p;
  };

  const startInProcess = async (attemptLog?: AttemptLogLimits): Promise<RunningOperator> => {
    const op = await startOperator({
      natsUrl: nats.url,
      resourcesDir: dir,
      configKey: parseConfigKey(configKey),
      logger: createSilentLogger(),
      ...(attemptLog && { attemptLog }),
    });
    operators.push(op);
    return op;
  };

  it('file mode: the defaults are 7 days, 256 MiB and 10,000 records per subscription', async () => {
    const op = startOperatorProcess(['--resources', dir]);
    await op.waitForOutput(/"msg":"config applied"/);
    assert.deepEqual(await limitsOf(jsm), {
      max_age: nanos(7 * 24 * HOUR_MS),
      max_bytes: 256 * MIB,
      max_msgs_per_subject: 10_000,
    });
  });

  it('file mode: HERALD_ATTEMPTS gets the limits given as flags', async () => {
    const op = startOperatorProcess([
      '--resources',
      dir,
      '--attempts-max-age',
      '36h',
      '--attempts-max-bytes',
      '1Gi',
      '--attempts-max-per-subject',
      '2500',
    ]);
    await op.waitForOutput(/"msg":"config applied"/);
    assert.deepEqual(await limitsOf(jsm), {
      max_age: nanos(36 * HOUR_MS),
      max_bytes: 1024 * MIB,
      max_msgs_per_subject: 2500,
    });
  });

  it('takes a max age shorter than the 2-minute duplicate window JetStream would otherwise refuse', async () => {
    const op = await startInProcess({ maxAgeMs: 30_000, maxBytes: MIB, maxPerSubject: 10 });
    const applied = await op.applyNow();
    assert.deepEqual(applied.topology.failed, []);
    assert.equal((await limitsOf(jsm)).max_age, nanos(30_000));
    await storeRecords(js, 'orders', 0, 3);
    assert.deepEqual(await countsOf(jsm), { orders: 3 });
  });

  it('Kubernetes mode (HERALD_ATTEMPTS_* env): updates an existing stream when it leads, keeping its records', async () => {
    await createOldAttemptsStream(jsm);
    await storeRecords(js, 'orders', 0, 30);
    api = await startKubeApiServer({ namespaces: [NS] });
    const op = startOperatorProcess(
      ['--kubeconfig', api.kubeconfigPath, '--leader-elect', 'false', '--metrics-port', '0'],
      {
        HERALD_ATTEMPTS_MAX_AGE: '3d',
        HERALD_ATTEMPTS_MAX_BYTES: '64Mi',
        HERALD_ATTEMPTS_MAX_PER_SUBJECT: '500',
      },
    );
    await op.waitForOutput(/"stream":"HERALD_ATTEMPTS","fields":\[[^\]]*\],"msg":"stream updated"/);
    assert.deepEqual(await limitsOf(jsm), {
      max_age: nanos(72 * HOUR_MS),
      max_bytes: 64 * MIB,
      max_msgs_per_subject: 500,
    });
    assert.deepEqual(await countsOf(jsm), { orders: 30 });
    assert.deepEqual(await eventIdsOf(js, jsm, 'orders'), idsFrom('orders', 0, 30));
  });

  it('an existing stream is updated on the next apply: records kept, a subscription over the new cap trimmed to its newest', async () => {
    await createOldAttemptsStream(jsm);
    await storeRecords(js, 'quiet', 0, 20);
    await storeRecords(js, 'busy', 0, 300);

    // Its first apply, done before startOperator resolves, updates the stream.
    const op = await startInProcess({
      maxAgeMs: 72 * HOUR_MS,
      maxBytes: 64 * MIB,
      maxPerSubject: 100,
    });
    assert.deepEqual(await limitsOf(jsm), {
      max_age: nanos(72 * HOUR_MS),
      max_bytes: 64 * MIB,
      max_msgs_per_subject: 100,
    });
    // The same stream, with what it held: at most 100 per subscription, the newest.
    assert.deepEqual(await countsOf(jsm), { quiet: 20, busy: 100 });
    assert.deepEqual(await eventIdsOf(js, jsm, 'busy'), idsFrom('busy', 200, 300));
    assert.deepEqual(await eventIdsOf(js, jsm, 'quiet'), idsFrom('quiet', 0, 20));
    // At the sequence it was stored at: updated in place, not recreated.
    const first = await jsm.streams.getMessage(ATTEMPTS_STREAM, { seq: 1 });
    assert.equal(first?.json<AttemptLogEntry>().eventId, 'quiet-0');

    const next = await op.applyNow();
    assert.deepEqual(
      [...next.topology.created, ...next.topology.updated],
      [],
      'nothing left to do',
    );
    await op.stop();

    // A lower cap later: the next operator's apply trims again, a higher age keeps the rest.
    await startInProcess({ maxAgeMs: 7 * 24 * HOUR_MS, maxBytes: 64 * MIB, maxPerSubject: 10 });
    assert.equal((await limitsOf(jsm)).max_msgs_per_subject, 10);
    assert.deepEqual(await countsOf(jsm), { quiet: 10, busy: 10 });
    assert.deepEqual(await eventIdsOf(js, jsm, 'quiet'), idsFrom('quiet', 10, 20));
  });

  it("the per-subscription cap keeps a busy subscription's burst from pushing out a quiet one's records", async () => {
    // A stream small enough that a burst of 400 records (~200 KiB) overflows it.
    const limits = { maxAgeMs: HOUR_MS, maxBytes: 128 * 1024 };
    await startInProcess({ ...limits, maxPerSubject: 100 });
    await storeRecords(js, 'quiet', 0, 10);
    await storeRecords(js, 'busy', 0, 400);
    assert.deepEqual(await countsOf(jsm), { quiet: 10, busy: 100 });
    assert.deepEqual(await eventIdsOf(js, jsm, 'quiet'), idsFrom('quiet', 0, 10));
    assert.deepEqual(await eventIdsOf(js, jsm, 'busy'), idsFrom('busy', 300, 400));
    await Promise.all(operators.splice(0).map((o) => o.stop()));
    await jsm.streams.delete(ATTEMPTS_STREAM);

    // The same burst with a cap above it: the size limit alone decides, and the quiet one's
    // records, being the oldest, are the first to go.
    await startInProcess({ ...limits, maxPerSubject: 1_000 });
    await storeRecords(js, 'quiet', 0, 10);
    await storeRecords(js, 'busy', 0, 400);
    const counts = await countsOf(jsm);
    assert.equal(counts.quiet, undefined, `quiet pushed out: ${JSON.stringify(counts)}`);
    assert.ok((counts.busy ?? 0) < 400, `busy cut by size: ${JSON.stringify(counts)}`);
  });

  it('refuses a limit JetStream cannot take, before creating anything', async () => {
    const cases: { args: string[]; env?: NodeJS.ProcessEnv; message: string }[] = [
      { args: ['--attempts-max-age', '0'], message: refusal('age', '0') },
      { args: [], env: { HERALD_ATTEMPTS_MAX_BYTES: '256MB' }, message: refusal('bytes', '256MB') },
      { args: ['--attempts-max-per-subject=-5'], message: refusal('perSubject', '-5') },
    ];
    for (const { args, env, message } of cases) {
      const p = startOperatorProcess(['--resources', dir, ...args], env);
      const [code] = (await once(p.child, 'close')) as [number | null];
      assert.equal(code, 1, `exit code for ${args.join(' ')}; stderr: ${p.stderr()}`);
      assert.equal(p.stderr().trim(), `herald operator: ${message}`);
    }
    const names: string[] = [];
    for await (const name of jsm.streams.names()) names.push(name);
    assert.deepEqual(names, [], 'no stream or bucket was created');
  });

  it('refuses zero, negative and unparsable values of each limit, flag or env var alike', () => {
    const cases: [keyof typeof ATTEMPT_LOG_FLAGS, string, string][] = [
      ['attempts-max-age', '0s', refusal('age', '0s')],
      ['attempts-max-age', '-1h', refusal('age', '-1h')],
      ['attempts-max-age', '500ms', refusal('age', '500ms')],
      ['attempts-max-age', 'a week', refusal('age', 'a week')],
      ['attempts-max-bytes', '0', refusal('bytes', '0')],
      ['attempts-max-bytes', '0Mi', refusal('bytes', '0Mi')],
      ['attempts-max-bytes', '-1Gi', refusal('bytes', '-1Gi')],
      ['attempts-max-bytes', 'lots', refusal('bytes', 'lots')],
      ['attempts-max-per-subject', '0', refusal('perSubject', '0')],
      ['attempts-max-per-subject', '-3', refusal('perSubject', '-3')],
      ['attempts-max-per-subject', '1.5', refusal('perSubject', '1.5')],
      ['attempts-max-per-subject', 'many', refusal('perSubject', 'many')],
    ];
    for (const [flag, value, message] of cases) {
      const env = ATTEMPT_LOG_FLAGS[flag].env;
      for (const values of [
        parseCommandFlags(OPERATOR_LIMITS, [`--${flag}=${value}`], {}),
        parseCommandFlags(OPERATOR_LIMITS, [], { [env]: value }),
      ]) {
        assert.throws(
          () => readAttemptLogLimits(values),
          (err: Error) => err.message === message,
          `${flag} ${value}`,
        );
      }
    }
    // Units add up as in spec.retention: 1h30m, 2Gi, 1G.
    assert.deepEqual(
      readAttemptLogLimits(
        parseCommandFlags(OPERATOR_LIMITS, ['--attempts-max-age', '1h30m'], {
          HERALD_ATTEMPTS_MAX_BYTES: '1G',
          HERALD_ATTEMPTS_MAX_PER_SUBJECT: '250',
        }),
      ),
      { maxAgeMs: 90 * 60_000, maxBytes: 1e9, maxPerSubject: 250 },
    );
  });
});

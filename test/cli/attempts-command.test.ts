/**
 * `herald attempts`: a subscription's latest attempt records from HERALD_ATTEMPTS, as a table or
 * JSON lines; `--limit` keeps the last N, `--since` starts at a time; usage errors exit 2.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { runAttemptsCommand } from '../../cli/attempts-command.js';
import { parseCommandFlags, readSwitch, type FlagValues } from '../../cli/flags.js';
import { ATTEMPTS_STREAM, attemptsSubjectFor } from '../../core/topology.js';
import type { AttemptLogEntry } from '../../dispatcher/attempts-log.js';
import { buildSystemStreamConfigs } from '../../operator/jetstream-config.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { REPO_ROOT } from '../support/processes.js';

const execFileAsync = promisify(execFile);

function entry(subscription: string, i: number): AttemptLogEntry {
  const failed = i % 10 === 0;
  return {
    time: new Date().toISOString(),
    subscription,
    eventId: `e-${i}`,
    eventType: 'com.example.order.created',
    source: 'https://acme.example/orders',
    webhookId: `msg_${i}`,
    stream: 'HERALD_EVT_shop_order-created',
    sequence: i + 1,
    attempt: 1,
    maxAttempts: 5,
    outcome: failed ? 'retry' : 'delivered',
    ...(failed
      ? { status: 503, error: 'sink answered HTTP 503', responseExcerpt: 'down', retryInMs: 900 }
      : { status: 204 }),
    latencyMs: 3.5,
  };
}

/** Stores records e-<from>…e-<to-1> for each subscription, interleaved as a dispatcher would. */
async function storeRecords(
  js: JetStreamClient,
  subscriptions: string[],
  from: number,
  to: number,
): Promise<void> {
  let batch: Promise<unknown>[] = [];
  for (let i = from; i < to; i++) {
    for (const id of subscriptions) {
      const [ns, name] = id.split('/') as [string, string];
      batch.push(js.publish(attemptsSubjectFor(ns, name), JSON.stringify(entry(id, i))));
    }
    if (batch.length >= 256) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}

async function attempts(
  values: FlagValues,
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAttemptsCommand({
    values: { limit: '100', ...values },
    usage: 'Usage: herald attempts [flags]',
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out, err };
}

const eventIdsOf = (jsonLines: string[]): string[] =>
  jsonLines.map((l) => (JSON.parse(l) as AttemptLogEntry).eventId);
const range = (from: number, to: number): string[] =>
  Array.from({ length: to - from }, (_, k) => `e-${from + k}`);

describe('herald attempts', function () {
  this.timeout(60_000);
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let js: JetStreamClient;

  before(async () => {
    nats = await startTestNatsServer();
    nc = await nats.connect();
    js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const config = buildSystemStreamConfigs().find((s) => s.name === ATTEMPTS_STREAM);
    assert.ok(config);
    await jsm.streams.add(config);
    // 250 records each for two subscriptions, interleaved; then 1,500 for a busy one.
    await storeRecords(js, ['shop/orders', 'shop/other'], 0, 250);
    await storeRecords(js, ['shop/busy', 'shop/noise'], 0, 1_500);
  });
  after(() => nats.stop());

  it('prints the last 100 records as a table, oldest first, and says how many there are', async () => {
    const { code, out, err } = await attempts({ nats: nats.url, subscription: 'shop/orders' });
    assert.equal(code, 0, err.join('\n'));
    assert.equal(out.length, 101, 'a header and 100 rows');
    assert.match(out[0]!, /^TIME\s+EVENT ID\s+ATTEMPT\s+OUTCOME\s+STATUS\s+LATENCY\s+ERROR/);
    assert.match(
      out[1]!,
      /^\S+Z\s+e-150\s+1\/5\s+retry\s+503\s+4 ms\s+sink answered HTTP 503; next attempt in 900 ms \| response: down$/,
    );
    assert.match(out[100]!, /^\S+Z\s+e-249\s+1\/5\s+delivered\s+204\s+4 ms$/);
    assert.ok(!out.some((l) => l.includes('shop/other') || / e-\d+ .*other/.test(l)));
    assert.deepEqual(err, [
      'showing the last 100 of 250 records for shop/orders; raise --limit for more',
    ]);
  });

  it('--json prints one parseable record per line; --limit keeps the last N', async () => {
    const { code, out } = await attempts({
      nats: nats.url,
      subscription: 'shop/orders',
      limit: '5',
      json: true,
    });
    assert.equal(code, 0);
    assert.deepEqual(eventIdsOf(out), range(245, 250));
    const last = JSON.parse(out[4]!) as AttemptLogEntry;
    assert.deepEqual(last, { ...entry('shop/orders', 249), time: last.time });

    const all = await attempts({
      nats: nats.url,
      subscription: 'shop/other',
      limit: '1000',
      json: true,
    });
    assert.deepEqual(eventIdsOf(all.out), range(0, 250));
    assert.deepEqual(all.err, [], 'nothing left out');
  });

  it('finds the last N of a long history exactly', async () => {
    for (const limit of [1, 5, 700]) {
      const { code, out, err } = await attempts({
        nats: nats.url,
        subscription: 'shop/busy',
        limit: String(limit),
        json: true,
      });
      assert.equal(code, 0, err.join('\n'));
      assert.deepEqual(eventIdsOf(out), range(1_500 - limit, 1_500), `--limit ${limit}`);
      assert.match(err[0] ?? '', new RegExp(`last ${limit} of 1500 records`));
    }
  });

  it('--since starts at a time (RFC 3339 or a duration ago)', async () => {
    const split = new Date();
    await storeRecords(js, ['shop/late'], 0, 3);
    // Stored times have nanoseconds, --since milliseconds: let the clock pass the cutoff's.
    const cutoff = new Date(Date.now() + 1);
    while (Date.now() <= cutoff.getTime()) await new Promise(setImmediate);
    await storeRecords(js, ['shop/late'], 3, 10);

    const afterCutoff = await attempts({
      nats: nats.url,
      subscription: 'shop/late',
      since: cutoff.toISOString(),
      json: true,
    });
    assert.equal(afterCutoff.code, 0);
    assert.deepEqual(eventIdsOf(afterCutoff.out), range(3, 10));

    const lastTwo = await attempts({
      nats: nats.url,
      subscription: 'shop/late',
      since: cutoff.toISOString(),
      limit: '2',
      json: true,
    });
    assert.deepEqual(eventIdsOf(lastTwo.out), range(8, 10));
    assert.match(lastTwo.err[0] ?? '', /last 2 of 7 records for shop\/late since /);

    const hourAgo = await attempts({
      nats: nats.url,
      subscription: 'shop/late',
      since: '1h',
      json: true,
    });
    assert.deepEqual(eventIdsOf(hourAgo.out), range(0, 10));

    const busySince = await attempts({
      nats: nats.url,
      subscription: 'shop/busy',
      since: split.toISOString(),
    });
    assert.deepEqual(busySince.out, [
      'no attempt records for shop/busy since ' + split.toISOString(),
    ]);
  });

  it('says so when a subscription has no records', async () => {
    const table = await attempts({ nats: nats.url, subscription: 'shop/never' });
    assert.equal(table.code, 0);
    assert.deepEqual(table.out, ['no attempt records for shop/never']);
    const json = await attempts({ nats: nats.url, subscription: 'shop/never', json: true });
    assert.deepEqual(json.out, [], 'stdout stays parseable');
    assert.deepEqual(json.err, ['no attempt records for shop/never']);
  });

  it('refuses bad flags with exit code 2 and the usage', async () => {
    const cases: [FlagValues, RegExp][] = [
      [{ subscription: 'shop/orders' }, /--nats URL/],
      [{ nats: nats.url }, /--subscription NAMESPACE\/NAME is required/],
      [
        { nats: nats.url, subscription: 'orders' },
        /NAMESPACE\/NAME \(two DNS labels\), got "orders"/,
      ],
      [{ nats: nats.url, subscription: 'Shop/Orders' }, /two DNS labels/],
      [
        { nats: nats.url, subscription: 'shop/orders', limit: '0' },
        /--limit must be a positive whole number, got "0"/,
      ],
      [{ nats: nats.url, subscription: 'shop/orders', limit: 'ten' }, /--limit/],
      [
        { nats: nats.url, subscription: 'shop/orders', since: 'yesterday' },
        /--since must be an RFC 3339 time .* got "yesterday"/,
      ],
    ];
    for (const [values, message] of cases) {
      const { code, err } = await attempts(values);
      assert.equal(code, 2, JSON.stringify(values));
      assert.match(err[0] ?? '', message);
      assert.match(err[0] ?? '', /Usage: herald attempts/);
    }
  });

  it('fails clearly when HERALD_ATTEMPTS does not exist', async () => {
    const bare = await startTestNatsServer();
    try {
      const { code, err } = await attempts({ nats: bare.url, subscription: 'shop/orders' });
      assert.equal(code, 1);
      assert.deepEqual(err, [
        'herald attempts: the stream HERALD_ATTEMPTS does not exist (the operator creates it)',
      ]);
    } finally {
      await bare.stop();
    }
  });

  it('runs as `herald attempts` from the command line', async function () {
    this.timeout(120_000); // three processes under tsx on a shared machine
    const herald = (args: string[]) =>
      execFileAsync(process.execPath, ['--import', 'tsx', 'cli/herald.ts', ...args], {
        cwd: REPO_ROOT,
      }).then(
        ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
    const ok = await herald([
      'attempts',
      '--nats',
      nats.url,
      '--subscription',
      'shop/orders',
      '--limit',
      '2',
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const lines = ok.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    assert.match(lines[2]!, /e-249\s+1\/5\s+delivered\s+204/);
    const bad = await herald(['attempts', '--nats', nats.url, '--subscription', 'orders']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--subscription must be NAMESPACE\/NAME/);
    const help = await herald(['attempts', '--help']);
    assert.equal(help.code, 0);
    for (const flag of ['--nats', '--subscription', '--since', '--limit', '--json']) {
      assert.ok(help.stdout.includes(flag), `help lacks ${flag}`);
    }
  });
});

describe('--attempts-log', () => {
  const spec = { summary: 'dispatcher', flags: ['attempts-log'] as const };
  const read = (argv: string[], env: NodeJS.ProcessEnv = {}): boolean =>
    readSwitch(parseCommandFlags(spec, argv, env), 'attempts-log');

  it('is on by default and turned off by the flag or HERALD_ATTEMPTS_LOG', () => {
    assert.equal(read([]), true);
    assert.equal(read(['--attempts-log=false']), false);
    assert.equal(read(['--attempts-log', 'off']), false);
    assert.equal(read([], { HERALD_ATTEMPTS_LOG: 'false' }), false);
    assert.equal(read(['--attempts-log=true'], { HERALD_ATTEMPTS_LOG: 'false' }), true);
  });

  it('refuses a value that is not a yes or a no', () => {
    assert.throws(() => read(['--attempts-log=maybe']), /--attempts-log must be true or false/);
  });
});

/**
 * `herald dlq list|redrive|purge` as a user runs it: the real executable against a real
 * nats-server holding dead letters as the dispatcher writes them.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { CloudEvent } from '../../core/cloudevents/types.js';
import { openConfigBucket } from '../../core/config/kv.js';
import { DLQ_STREAM, dlqSubjectFor } from '../../core/topology.js';
import { publishDeadLetter, type DeadLetterDetails } from '../../dispatcher/dead-letter.js';
import { DeadLetterCode } from '../../dispatcher/retry.js';
import { buildSystemStreamConfigs } from '../../operator/jetstream-config.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { REPO_ROOT } from '../support/processes.js';
import { runDlqCommand } from '../../cli/dlq-command.js';
import type { FlagValues } from '../../cli/flags.js';

const execFileAsync = promisify(execFile);

async function herald(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'cli/herald.ts', ...args],
      { cwd: REPO_ROOT, env: { ...process.env, NATS_URL: '' } },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function event(id: string, data: unknown): CloudEvent {
  return {
    attributes: {
      specversion: '1.0',
      id,
      source: 'https://acme.example/orders',
      type: 'com.example.order.created',
      datacontenttype: 'application/json',
    },
    data: { kind: 'json', value: data },
  };
}

describe('herald dlq', function () {
  this.timeout(60_000);
  let nats: TestNatsServer;
  let js: JetStreamClient;
  /** Stored times of the three dead letters of shop/orders, oldest first. */
  const times: string[] = [];

  async function deadLetter(name: string, id: string, details: DeadLetterDetails, seq: number) {
    await publishDeadLetter(
      js,
      {
        namespace: 'shop',
        subscription: name,
        stream: 'HERALD_EVT_shop_order-created',
        streamSequence: seq,
        messageId: `msg-${id}`,
        producer: 'acme',
      },
      event(id, { orderId: id }),
      details,
    );
  }

  before(async () => {
    nats = await startTestNatsServer();
    const nc = await nats.connect();
    js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    for (const s of buildSystemStreamConfigs()) await jsm.streams.add(s);
    await openConfigBucket(js);
    const rejected = {
      code: DeadLetterCode.Rejected,
      reason: 'sink answered HTTP 400',
      attempts: 1,
      status: 400,
      bodyExcerpt: 'bad order',
    };
    const exhausted = {
      code: DeadLetterCode.AttemptsExhausted,
      reason: 'network: ECONNREFUSED (attempt 8 of 8)',
      attempts: 8,
    };
    await deadLetter('orders', 'evt-1', rejected, 1);
    await deadLetter('other', 'evt-elsewhere', rejected, 2);
    await deadLetter('orders', 'evt-2', exhausted, 3);
    // A clear gap in stored time before the third, for --since.
    const second = await jsm.streams.getMessage(DLQ_STREAM, {
      last_by_subj: dlqSubjectFor('shop', 'orders'),
    });
    const afterSecond = second!.time.getTime() + 5;
    while (Date.now() <= afterSecond) await new Promise((r) => setTimeout(r, 2));
    await deadLetter('orders', 'evt-3', rejected, 4);
    for (const seq of [1, 3, 4]) {
      times.push((await jsm.streams.getMessage(DLQ_STREAM, { seq }))!.time.toISOString());
    }
  });
  after(() => nats.stop());

  it('lists a subscription’s dead letters as a table, without payloads', async () => {
    const r = await herald(['dlq', 'list', '--nats', nats.url, '--subscription', 'shop/orders']);
    assert.equal(r.code, 0, r.stderr);
    const [header, ...rows] = r.stdout.trimEnd().split('\n');
    assert.match(
      header ?? '',
      /^SEQ\s+TIME\s+EVENT ID\s+TYPE\s+SOURCE\s+CODE\s+ATTEMPTS\s+STATUS\s+REASON$/,
    );
    assert.equal(rows.length, 3, r.stdout);
    assert.match(
      rows[0] ?? '',
      /^1\s+\S+\s+evt-1\s+com\.example\.order\.created\s+https:\/\/acme\.example\/orders\s+rejected\s+1\s+400\s+sink answered HTTP 400$/,
    );
    assert.match(
      rows[1] ?? '',
      /^3\s+.*evt-2\s+.*attempts_exhausted\s+8\s+network: ECONNREFUSED \(attempt 8 of 8\)$/,
    );
    assert.match(rows[2] ?? '', /^4\s+.*evt-3\s/);
    assert.ok(!r.stdout.includes('evt-elsewhere'), 'only this subscription’s');
    assert.ok(!r.stdout.includes('orderId') && !r.stdout.includes('bad order'), 'no payloads');
  });

  it('prints one JSON object per line with --json, the event included', async () => {
    const r = await herald([
      'dlq',
      'list',
      '--json',
      '--nats',
      nats.url,
      '--subscription',
      'shop/orders',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 3);
    const first = lines[0]!;
    assert.equal(first.seq, 1);
    assert.equal(first.time, times[0]);
    assert.equal(first.subscription, 'shop/orders');
    assert.equal(first.code, 'rejected');
    assert.equal(first.status, 400);
    assert.equal(first.attempts, 1);
    assert.equal(first.responseExcerpt, 'bad order');
    assert.equal(first.sourceStream, 'HERALD_EVT_shop_order-created');
    assert.equal(first.sourceSequence, 1);
    assert.equal(first.producer, 'acme');
    const ev = first.event as Record<string, unknown>;
    assert.equal(ev.id, 'evt-1');
    assert.deepEqual(ev.data, { orderId: 'evt-1' });
    assert.equal(ev.heralderrorcode, undefined, 'the event without the error attributes');
  });

  /** `herald dlq <args>` in process (the same code the executable runs), for the many variants. */
  async function dlq(
    positionals: string[],
    values: FlagValues,
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDlqCommand({
      values: { limit: '100', ...values },
      positionals,
      usage: 'Usage: herald dlq list|redrive [flags]',
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  }

  const eventIds = (table: string): string[] =>
    table
      .split('\n')
      .slice(1)
      .map((l) => l.split(/\s+/)[2] ?? '');

  it('filters with --since (an RFC 3339 time or a duration ago) and cuts with --limit', async () => {
    const list = (values: FlagValues) =>
      dlq(['list'], { nats: nats.url, subscription: 'shop/orders', ...values });
    const since = await list({ since: times[2]! });
    assert.equal(since.code, 0, since.stderr);
    assert.deepEqual(eventIds(since.stdout), ['evt-3']);

    assert.deepEqual(eventIds((await list({ since: '1h' })).stdout), ['evt-1', 'evt-2', 'evt-3']);

    const future = await list({ since: '2999-01-01T00:00:00Z' });
    assert.equal(future.code, 0);
    assert.equal(future.stdout, '');
    assert.match(future.stderr, /no dead letters for shop\/orders since 2999-01-01/);

    const limited = await list({ limit: '2' });
    assert.deepEqual(eventIds(limited.stdout), ['evt-1', 'evt-2']);
    assert.match(limited.stderr, /2 of 3 dead letters/);
  });

  it('refuses bad usage with exit 2 and says why', async () => {
    // Through the executable once: the exit code and the command's own usage text.
    const r = await herald(['dlq', '--nats', nats.url, '--subscription', 'shop/orders']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /say what to do: list, redrive or purge/);
    assert.match(r.stderr, /Usage: herald dlq list\|redrive\|purge/);

    const cases: [string[], FlagValues, RegExp][] = [
      [['drop'], { subscription: 'a/b' }, /unknown subcommand "drop": use list, redrive or purge/],
      [['list', 'extra'], { subscription: 'a/b' }, /unexpected argument "extra"/],
      [['list'], {}, /--subscription NAMESPACE\/NAME is required/],
      [['list'], { subscription: 'just-a-name' }, /NAMESPACE\/NAME/],
      [['list'], { subscription: 'Shop/Orders' }, /two DNS labels/],
      [['list'], { subscription: 'a/b', since: 'yesterday' }, /--since must be/],
      [['list'], { subscription: 'a/b', limit: '0' }, /--limit must be/],
    ];
    for (const [positionals, values, message] of cases) {
      const c = await dlq(positionals, { nats: nats.url, ...values });
      assert.equal(c.code, 2, `${positionals.join(' ')}: ${c.stderr}`);
      assert.match(c.stderr, message);
    }
    const noNats = await dlq(['list'], { subscription: 'a/b' });
    assert.equal(noNats.code, 2);
    assert.match(noNats.stderr, /--nats URL/);
  });

  it('fails with exit 1 when NATS cannot be reached', async () => {
    const r = await dlq(['list'], { nats: 'nats://127.0.0.1:1', subscription: 'a/b' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});

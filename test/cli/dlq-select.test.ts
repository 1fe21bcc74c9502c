/**
 * `herald dlq` by event (--id, --source) and `herald dlq purge`, against a real nats-server
 * holding dead letters as the dispatcher writes them.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { CloudEvent } from '../../core/cloudevents/types.js';
import { DLQ_STREAM, dlqSubjectFor } from '../../core/topology.js';
import { publishDeadLetter } from '../../dispatcher/dead-letter.js';
import { DeadLetterCode } from '../../dispatcher/retry.js';
import { buildSystemStreamConfigs } from '../../operator/jetstream-config.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { REPO_ROOT } from '../support/processes.js';
import { runDlqCommand } from '../../cli/dlq-command.js';
import { deleteDeadLetters } from '../../cli/dlq-purge.js';
import { readDeadLetters } from '../../cli/dlq-read.js';
import type { FlagValues } from '../../cli/flags.js';

const execFileAsync = promisify(execFile);
const ACME = 'https://acme.example/orders';
const BILLING = 'https://billing.example/invoices';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('herald dlq by event, and purge', function () {
  this.timeout(60_000);
  let nats: TestNatsServer;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  let streamSequence = 0;

  /** Dead-letters an event for shop/<name>; returns its HERALD_DLQ sequence and stored time. */
  async function deadLetter(
    name: string,
    id: string,
    source = ACME,
  ): Promise<{ seq: number; time: string }> {
    const event: CloudEvent = {
      attributes: { specversion: '1.0', id, source, type: 'com.example.order.created' },
      data: { kind: 'json', value: { orderId: id } },
    };
    await publishDeadLetter(
      js,
      {
        namespace: 'shop',
        subscription: name,
        stream: 'HERALD_EVT_shop_order-created',
        streamSequence: ++streamSequence,
        messageId: `msg-${source}-${id}`,
      },
      event,
      { code: DeadLetterCode.Rejected, reason: 'sink answered HTTP 400', attempts: 1, status: 400 },
    );
    const stored = await jsm.streams.getMessage(DLQ_STREAM, {
      last_by_subj: dlqSubjectFor('shop', name),
    });
    return { seq: stored!.seq, time: stored!.time.toISOString() };
  }

  /** Until the clock passes a stored time, so a later dead letter is clearly later for --since. */
  async function passTime(time: string): Promise<void> {
    const after = Date.parse(time) + 5;
    while (Date.now() <= after) await new Promise((r) => setTimeout(r, 2));
  }

  async function count(name: string): Promise<number> {
    const subject = dlqSubjectFor('shop', name);
    const info = await jsm.streams.info(DLQ_STREAM, { subjects_filter: subject });
    return info.state.subjects?.[subject] ?? 0;
  }

  async function dlq(positionals: string[], values: FlagValues): Promise<Run> {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runDlqCommand({
      values: { nats: nats.url, limit: '100', ...values },
      positionals,
      usage: 'Usage: herald dlq list|redrive|purge [flags]',
      out: (t) => out.push(t),
      err: (t) => err.push(t),
    });
    return { code, stdout: out.join('\n'), stderr: err.join('\n') };
  }

  /** SEQ and EVENT ID of each table row. */
  const rows = (table: string): string[] =>
    table
      .split('\n')
      .slice(1)
      .filter(Boolean)
      .map((l) => {
        const [seq, , id] = l.split(/\s+/);
        return `${seq} ${id}`;
      });

  /** The event ids still stored for shop/<name>, oldest first. */
  async function remaining(name: string): Promise<string[]> {
    const r = await dlq(['list'], { subscription: `shop/${name}`, json: true });
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => String((JSON.parse(l) as { event: { id: string } }).event.id));
  }

  /** shop/orders, read only: evt-1 dead-lettered twice (before and after `laterTime`). */
  let laterTime: string;
  const seqs: Record<string, number> = {};

  before(async () => {
    nats = await startTestNatsServer();
    const nc = await nats.connect();
    js = jetstream(nc);
    jsm = await jetstreamManager(nc);
    for (const s of buildSystemStreamConfigs()) await jsm.streams.add(s);
    seqs['evt-1'] = (await deadLetter('orders', 'evt-1')).seq;
    seqs['evt-2'] = (await deadLetter('orders', 'evt-2')).seq;
    // Another event with the same id: CloudEvents ids are unique per source only.
    seqs['billing evt-1'] = (await deadLetter('orders', 'evt-1', BILLING)).seq;
    await deadLetter('other', 'evt-1');
    const before = await deadLetter('orders', 'evt-2x');
    await passTime(before.time);
    // evt-1 again, as after a redrive that failed too.
    const again = await deadLetter('orders', 'evt-1');
    seqs['evt-1 again'] = again.seq;
    laterTime = again.time;
    seqs['evt-3'] = (await deadLetter('orders', 'evt-3')).seq;
  });
  after(() => nats.stop());

  it('lists the dead letters of each --id given (repeated on the command line)', async () => {
    let r: Run;
    try {
      const { stdout, stderr } = await execFileAsync(
        process.execPath,
        [
          '--import',
          'tsx',
          'cli/herald.ts',
          'dlq',
          'list',
          '--nats',
          nats.url,
          '--subscription',
          'shop/orders',
          '--id',
          'evt-3',
          '--id=evt-2',
          '--source',
          ACME,
        ],
        { cwd: REPO_ROOT, env: { ...process.env, NATS_URL: '' } },
      );
      r = { code: 0, stdout, stderr };
    } catch (e) {
      r = e as Run;
    }
    assert.equal(r.code, 0, r.stderr);
    // Oldest first; evt-2x is another id, not a prefix match.
    assert.deepEqual(rows(r.stdout.trimEnd()), [
      `${seqs['evt-2']} evt-2`,
      `${seqs['evt-3']} evt-3`,
    ]);
  });

  it('shows every dead letter of an id found from several sources, and says to add --source', async () => {
    const all = await dlq(['list'], { subscription: 'shop/orders', id: ['evt-1'] });
    assert.equal(all.code, 0, all.stderr);
    assert.deepEqual(rows(all.stdout), [
      `${seqs['evt-1']} evt-1`,
      `${seqs['billing evt-1']} evt-1`,
      `${seqs['evt-1 again']} evt-1`,
    ]);
    assert.match(
      all.stderr,
      /event id "evt-1" is in dead letters of 2 events \(sources "https:\/\/acme\.example\/orders", "https:\/\/billing\.example\/invoices"\): add --source to choose one/,
    );

    const billing = await dlq(['list'], {
      subscription: 'shop/orders',
      id: ['evt-1'],
      source: BILLING,
    });
    assert.equal(billing.code, 0, billing.stderr);
    assert.equal(billing.stderr, '');
    assert.deepEqual(rows(billing.stdout), [`${seqs['billing evt-1']} evt-1`]);

    const bySource = await dlq(['list'], { subscription: 'shop/orders', source: BILLING });
    assert.deepEqual(rows(bySource.stdout), [`${seqs['billing evt-1']} evt-1`]);
  });

  it('reports an --id with no dead letter and exits 3, listing the rest', async () => {
    const r = await dlq(['list'], { subscription: 'shop/orders', id: ['evt-2', 'nope'] });
    assert.equal(r.code, 3);
    assert.deepEqual(rows(r.stdout), [`${seqs['evt-2']} evt-2`]);
    assert.equal(r.stderr, 'no dead letter of event id "nope" for shop/orders');

    // One --id is one whole id, commas and all.
    const comma = await dlq(['list'], { subscription: 'shop/orders', id: ['evt-2,evt-3'] });
    assert.equal(comma.code, 3);
    assert.equal(comma.stdout, '');
    assert.match(
      comma.stderr,
      /"evt-2,evt-3" .*\(each --id is one whole id: repeat --id for more\)$/,
    );

    // Another subscription's dead letter of that id does not count.
    const elsewhere = await dlq(['list'], { subscription: 'shop/other', id: ['evt-2'] });
    assert.equal(elsewhere.code, 3);
    assert.equal(elsewhere.stdout, '');
  });

  it('combines --since with --id', async () => {
    const later = await dlq(['list'], {
      subscription: 'shop/orders',
      since: laterTime,
      id: ['evt-1'],
    });
    assert.equal(later.code, 0, later.stderr);
    assert.deepEqual(rows(later.stdout), [`${seqs['evt-1 again']} evt-1`]);
    assert.equal(later.stderr, '', 'one source since then: nothing ambiguous');

    const gone = await dlq(['list'], {
      subscription: 'shop/orders',
      since: laterTime,
      id: ['evt-2', 'evt-3'],
      json: true,
    });
    assert.equal(gone.code, 3);
    assert.deepEqual(
      gone.stdout.split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq),
      [seqs['evt-3']],
    );
    assert.equal(
      gone.stderr,
      `no dead letter of event id "evt-2" for shop/orders since ${new Date(laterTime).toISOString()}`,
    );
  });

  it('purge without --yes shows what it would delete, deletes nothing and exits 2', async () => {
    await deadLetter('dry', 'evt-a');
    await deadLetter('dry', 'evt-b');
    const r = await dlq(['purge'], { subscription: 'shop/dry' });
    assert.equal(r.code, 2);
    assert.deepEqual(
      rows(r.stdout).map((row) => row.split(' ')[1]),
      ['evt-a', 'evt-b'],
    );
    assert.equal(
      r.stderr,
      'herald dlq purge: nothing deleted: add --yes to delete these 2 dead letters of shop/dry',
    );
    assert.equal(await count('dry'), 2);
  });

  it('purge --yes --id deletes exactly the dead letters of those events', async () => {
    await deadLetter('pick', 'evt-a');
    await deadLetter('pick', 'evt-b');
    await deadLetter('pick', 'evt-c');
    await deadLetter('pick', 'evt-b'); // dead-lettered again: both go
    const r = await dlq(['purge'], {
      subscription: 'shop/pick',
      id: ['evt-b', 'nope'],
      yes: true,
    });
    assert.equal(r.code, 3, 'done, but one id matched nothing');
    assert.equal(r.stdout, 'deleted 2 dead letters of shop/pick from HERALD_DLQ');
    assert.equal(r.stderr, 'no dead letter of event id "nope" for shop/pick');
    assert.equal(await count('pick'), 2);
    assert.deepEqual(await remaining('pick'), ['evt-a', 'evt-c']);
  });

  it('purge --yes of a whole subscription leaves other subscriptions’ dead letters', async () => {
    for (const id of ['evt-a', 'evt-b', 'evt-c']) await deadLetter('all', id);
    await deadLetter('all-neighbour', 'evt-a');
    const before = await count('orders');
    const r = await dlq(['purge'], { subscription: 'shop/all', yes: true, json: true });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      subscription: 'shop/all',
      deleted: 3,
      gone: 0,
      matching: 3,
    });
    assert.equal(await count('all'), 0);
    assert.equal(await count('all-neighbour'), 1);
    assert.equal(await count('orders'), before);
  });

  it('purge --yes with --limit deletes the oldest N only, and says how many remain', async () => {
    for (const id of ['evt-a', 'evt-b', 'evt-c']) await deadLetter('oldest', id);
    const r = await dlq(['purge'], { subscription: 'shop/oldest', limit: '2', yes: true });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deleted 2 dead letters of shop/oldest from HERALD_DLQ');
    assert.match(r.stderr, /2 of 3 dead letters/);
    assert.deepEqual(await remaining('oldest'), ['evt-c']);
  });

  it('purge --yes --since deletes the dead letters stored since then only', async () => {
    const old = await deadLetter('recent', 'evt-old');
    await passTime(old.time);
    const since = (await deadLetter('recent', 'evt-new-1')).time;
    await deadLetter('recent', 'evt-new-2');
    const r = await dlq(['purge'], { subscription: 'shop/recent', since, yes: true });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deleted 2 dead letters of shop/recent from HERALD_DLQ');
    assert.deepEqual(await remaining('recent'), ['evt-old']);
  });

  it('refuses to purge an id found from several sources without --source', async () => {
    await deadLetter('twice', 'evt-x', ACME);
    await deadLetter('twice', 'evt-x', BILLING);
    const refused = await dlq(['purge'], { subscription: 'shop/twice', id: ['evt-x'], yes: true });
    assert.equal(refused.code, 2);
    assert.match(
      refused.stderr,
      /event id "evt-x" is in dead letters of 2 events .*: nothing was done; add --source/,
    );
    assert.equal(refused.stdout, '');
    assert.equal(await count('twice'), 2);
    const r = await dlq(['purge'], {
      subscription: 'shop/twice',
      id: ['evt-x'],
      source: BILLING,
      yes: true,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'deleted 1 dead letter of shop/twice from HERALD_DLQ');
    const left = await dlq(['list'], { subscription: 'shop/twice', json: true });
    assert.equal((JSON.parse(left.stdout) as { event: { source: string } }).event.source, ACME);
  });

  it('never deletes a dead letter stored after the selection was read', async () => {
    for (const oldestOfSubject of [true, false]) {
      const name = `race-${String(oldestOfSubject)}`;
      await deadLetter(name, 'evt-a');
      await deadLetter(name, 'evt-b');
      const page = await readDeadLetters(js, jsm, { namespace: 'shop', name, limit: 100 });
      await deadLetter(name, 'evt-late');
      const result = await deleteDeadLetters(
        jsm,
        dlqSubjectFor('shop', name),
        page.letters,
        oldestOfSubject,
      );
      assert.deepEqual(result, { deleted: 2, gone: 0 }, name);
      assert.deepEqual(await remaining(name), ['evt-late'], name);
    }
  });

  it('counts selected dead letters deleted meanwhile as gone', async () => {
    await deadLetter('meanwhile', 'evt-a');
    const b = await deadLetter('meanwhile', 'evt-b');
    const page = await readDeadLetters(js, jsm, {
      namespace: 'shop',
      name: 'meanwhile',
      limit: 100,
    });
    await jsm.streams.deleteMessage(DLQ_STREAM, b.seq);
    const result = await deleteDeadLetters(
      jsm,
      dlqSubjectFor('shop', 'meanwhile'),
      page.letters,
      false,
    );
    assert.deepEqual(result, { deleted: 1, gone: 1 });
    assert.equal(await count('meanwhile'), 0);
  });

  it('refuses --yes outside purge and an empty --id or --source, with exit 2', async () => {
    const cases: [string[], FlagValues, RegExp][] = [
      [['list'], { yes: true }, /--yes goes with purge only/],
      [['redrive'], { yes: true }, /--yes goes with purge only/],
      [['purge'], { id: [''] }, /--id needs an event id/],
      [['list'], { source: '' }, /--source needs a CloudEvents source/],
    ];
    for (const [positionals, values, message] of cases) {
      const r = await dlq(positionals, { subscription: 'shop/orders', ...values });
      assert.equal(r.code, 2, `${positionals.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});

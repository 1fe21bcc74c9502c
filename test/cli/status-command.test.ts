/**
 * `herald status` and `herald resume` as a user runs them: the real executable against a real
 * nats-server holding a compiled config and delivery-state records.
 */
import { strict as assert } from 'node:assert';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { jetstream } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { runResumeCommand, runStatusCommand } from '../../cli/status-command.js';
import { openConfigBucket, writeCompiledConfig } from '../../core/config/kv.js';
import {
  createDeliveryState,
  openDeliveryStateBucket,
  PauseCode,
  readDeliveryState,
  updateDeliveryState,
  type DeliveryState,
} from '../../core/delivery-state.js';
import { buildSubscription } from '../dispatcher/support.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { REPO_ROOT } from '../support/processes.js';

const execFileAsync = promisify(execFile);

async function runHerald(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'cli/herald.ts', ...args],
      { cwd: REPO_ROOT },
    );
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const NS = 'shop';
const T0 = Date.parse('2026-03-01T10:00:00.000Z');

describe('herald status and herald resume', function () {
  this.timeout(120_000);
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let states: KV;

  async function putState(name: string, fields: Partial<DeliveryState>): Promise<void> {
    await updateDeliveryState(states, NS, name, () => ({
      ...createDeliveryState(NS, name, 1, T0),
      ...fields,
    }));
  }

  before(async () => {
    nats = await startTestNatsServer();
    nc = await nats.connect();
    const js = jetstream(nc);
    const config = await openConfigBucket(js);
    states = await openDeliveryStateBucket(js);
    await writeCompiledConfig(config, {
      eventTypes: [],
      producers: [],
      subscriptions: [
        buildSubscription(NS, 'gone', 'https://partner.example/a'),
        buildSubscription(NS, 'flaky', 'https://partner.example/b'),
        buildSubscription(NS, 'fine', 'https://partner.example/c'),
        buildSubscription(NS, 'held', 'https://partner.example/d', { paused: true }),
        buildSubscription(NS, 'fresh', 'https://partner.example/e'),
      ],
    });
    await putState('gone', {
      lastFailureTime: '2026-03-01T10:00:00.000Z',
      lastStatus: 410,
      lastError: 'sink answered HTTP 410',
      consecutiveFailures: 1,
      failingSince: '2026-03-01T10:00:00.000Z',
      pausedReason: 'sink answered HTTP 410 (Gone): the sink asked for no more deliveries',
      pausedCode: PauseCode.SinkGone,
      pausedAt: '2026-03-01T10:00:00.000Z',
      pausedGeneration: 1,
    });
    await putState('flaky', {
      lastSuccessTime: '2026-03-01T09:00:00.000Z',
      lastFailureTime: '2026-03-01T10:00:00.000Z',
      lastError: 'timeout: no response within 10000 ms',
      consecutiveFailures: 7,
      failingSince: '2026-03-01T09:30:00.000Z',
    });
    await putState('fine', { lastSuccessTime: '2026-03-01T10:00:00.000Z', lastStatus: 204 });
  });
  after(() => nats.stop());

  it('prints every subscription’s health as a table', async () => {
    const { code, stdout } = await runHerald(['status', '--nats', nats.url]);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^SUBSCRIPTION\s+STATE\s+FAILURES\s+LAST\s+LAST SUCCESS/);
    const row = (name: string): string => lines.find((l) => l.startsWith(`${NS}/${name} `)) ?? '';
    assert.match(
      row('gone'),
      /paused\s+1\s+410\s+-\s+2026-03-01T10:00:00.000Z\s+sink answered HTTP 410 \(Gone\)/,
    );
    assert.match(
      row('flaky'),
      /failing\s+7\s+timeout\s+2026-03-01T09:00:00.000Z\s+2026-03-01T10:00:00.000Z\s+timeout: no response/,
    );
    assert.match(row('fine'), /healthy\s+0\s+204\s+2026-03-01T10:00:00.000Z/);
    assert.match(row('held'), /paused-by-spec/);
    assert.match(row('fresh'), /no-attempts\s+0\s+-/);
  });

  it('prints one subscription as JSON with --subscription and --json', async () => {
    const { code, stdout } = await runHerald([
      'status',
      '--nats',
      nats.url,
      '--subscription',
      `${NS}/flaky`,
      '--json',
    ]);
    assert.equal(code, 0);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(line.subscription, `${NS}/flaky`);
    assert.equal(line.state, 'failing');
    assert.equal(line.specPaused, false);
    const delivery = line.delivery as DeliveryState;
    assert.equal(delivery.consecutiveFailures, 7);
    assert.equal(delivery.lastSuccessTime, '2026-03-01T09:00:00.000Z');
    assert.equal(delivery.failingSince, '2026-03-01T09:30:00.000Z');
  });

  it('refuses an unknown subscription with exit code 1', async () => {
    const status = await runHerald(['status', '--nats', nats.url, '--subscription', `${NS}/nope`]);
    assert.equal(status.code, 1);
    assert.match(status.stderr, /no Subscription shop\/nope in the config/);
    const resume = await runHerald(['resume', '--nats', nats.url, '--subscription', `${NS}/nope`]);
    assert.equal(resume.code, 1);
    assert.match(resume.stderr, /no Subscription shop\/nope in the config/);
  });

  it('resumes a paused subscription, then says it is not paused', async () => {
    const first = await runHerald(['resume', '--nats', nats.url, '--subscription', `${NS}/gone`]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      /^resumed shop\/gone \(it was paused .*HTTP 410.*\); delivery continues/,
    );
    const state = (await readDeliveryState(states, NS, 'gone'))?.state;
    assert.equal(state?.pausedReason, undefined);
    assert.equal(state?.pausedCode, undefined);
    assert.ok(state?.resumedAt, 'the resume is on record');
    assert.equal(state?.consecutiveFailures, 1, 'still the truth about the endpoint');
    assert.equal(state?.failingSince, undefined, 'the auto-pause clock starts again');

    const again = await runHerald(['resume', '--nats', nats.url, '--subscription', `${NS}/gone`]);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^shop\/gone is not paused$/m);
  });

  it('leaves spec.paused to the user, and says so', async () => {
    const { code, stdout } = await runHerald([
      'resume',
      '--nats',
      nats.url,
      '--subscription',
      `${NS}/held`,
    ]);
    assert.equal(code, 0);
    assert.match(stdout, /shop\/held is not paused; note: its spec says paused: true/);
  });

  it('asks for --subscription NAMESPACE/NAME', async () => {
    const errors: string[] = [];
    const io = { usage: 'USAGE', out: () => {}, err: (l: string) => errors.push(l) };
    assert.equal(await runResumeCommand({ values: { nats: nats.url }, ...io }), 2);
    assert.match(errors.join('\n'), /--subscription NAMESPACE\/NAME is required\n\nUSAGE/);
    const malformed = { nats: nats.url, subscription: 'gone' };
    assert.equal(await runStatusCommand({ values: malformed, ...io }), 2);
    assert.match(errors.join('\n'), /--subscription must be NAMESPACE\/NAME/);
  });
});

/**
 * Who makes the ledger bucket `herald-delivered` and with which window: the operator ensures
 * it with the system streams; a dispatcher that starts first creates it the same way; an
 * existing bucket's TTL changes only when the operator is given a window.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { LEDGER_DEFAULT_WINDOW_MS, LEDGER_STREAM } from '../../core/topology.js';
import { startDispatcher } from '../../dispatcher/main.js';
import { ensureTopology } from '../../operator/jetstream-apply.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { createCapturingLogger } from './support.js';

const EMPTY = { eventTypes: [], producers: [], subscriptions: [] };
const nanos = (ms: number): number => ms * 1e6;

describe('delivery ledger bucket', function () {
  this.timeout(20_000);
  let nats: TestNatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  before(async () => {
    nats = await startTestNatsServer();
    nc = await nats.connect();
    jsm = await jetstreamManager(nc);
  });
  after(() => nats.stop());
  beforeEach(() => jsm.streams.delete(LEDGER_STREAM).catch(() => undefined));

  it('is created by the operator with the system streams: KV shape, default window, system replicas', async () => {
    const report = await ensureTopology(jsm, EMPTY);
    assert.ok(report.created.some((c) => c.stream === LEDGER_STREAM));
    const { config } = await jsm.streams.info(LEDGER_STREAM);
    assert.equal(config.max_age, nanos(LEDGER_DEFAULT_WINDOW_MS));
    assert.equal(config.max_msgs_per_subject, 1);
    assert.deepEqual(config.subjects, ['$KV.herald-delivered.>']);
    assert.equal(config.allow_direct, true);
    assert.equal(config.num_replicas, 1);
    assert.equal(config.storage, 'file');

    const again = await ensureTopology(jsm, EMPTY);
    assert.deepEqual([...again.created, ...again.updated], [], 'nothing to do the second time');
  });

  it('keeps an existing bucket’s TTL unless the operator is given a window, then enforces it', async () => {
    await ensureTopology(jsm, EMPTY, { ledgerWindowMs: 600_000 });
    assert.equal((await jsm.streams.info(LEDGER_STREAM)).config.max_age, nanos(600_000));

    // Tuned behind Herald's back (nats stream edit): left alone without a configured window.
    await jsm.streams.update(LEDGER_STREAM, { max_age: nanos(7_200_000) });
    const untouched = await ensureTopology(jsm, EMPTY);
    assert.deepEqual(untouched.updated, []);
    assert.equal((await jsm.streams.info(LEDGER_STREAM)).config.max_age, nanos(7_200_000));

    const enforced = await ensureTopology(jsm, EMPTY, { ledgerWindowMs: 600_000 });
    assert.deepEqual(
      enforced.updated.map((u) => [u.stream, u.fields]),
      [[LEDGER_STREAM, ['max_age']]],
    );
    assert.equal((await jsm.streams.info(LEDGER_STREAM)).config.max_age, nanos(600_000));
  });

  it('is created by a dispatcher that starts before the operator, in the same shape', async () => {
    const { logger, lines } = createCapturingLogger();
    const dispatcher = await startDispatcher({
      natsUrl: nats.url,
      configKey: randomBytes(32),
      logger,
      ledgerWindowMs: 900_000,
    });
    try {
      const { config } = await jsm.streams.info(LEDGER_STREAM);
      assert.equal(config.max_age, nanos(900_000));
      assert.equal(config.allow_direct, true);
      assert.equal(config.max_msgs_per_subject, 1);
      const started = lines.find((l) => l.msg === 'dispatcher started');
      assert.equal(started?.ledgerWindowMs, 900_000);
      // The operator finds nothing to change in it.
      const report = await ensureTopology(jsm, EMPTY);
      assert.deepEqual([...report.created, ...report.updated, ...report.failed], []);
    } finally {
      await dispatcher.stop();
    }
  });

  it('is opened, not changed, by a dispatcher when it exists', async () => {
    await ensureTopology(jsm, EMPTY, { ledgerWindowMs: 300_000 });
    const { logger, lines } = createCapturingLogger();
    const dispatcher = await startDispatcher({
      natsUrl: nats.url,
      configKey: randomBytes(32),
      logger,
      ledgerWindowMs: 900_000,
    });
    try {
      assert.equal((await jsm.streams.info(LEDGER_STREAM)).config.max_age, nanos(300_000));
      const started = lines.find((l) => l.msg === 'dispatcher started');
      assert.equal(started?.ledgerWindowMs, 300_000, 'logs the window in force');
    } finally {
      await dispatcher.stop();
    }
  });
});

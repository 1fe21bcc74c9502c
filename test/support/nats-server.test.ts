import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { startNatsServer } from '../../cli/nats-server-process.js';
import { isHeraldError, ErrorCode } from '../../core/errors.js';
import { startTestNatsServer } from './nats-server.js';
import { jetstreamManager } from '@nats-io/jetstream';

describe('test nats-server launcher', () => {
  it('starts JetStream on a free port, survives a crash-restart with its store, and cleans up', async () => {
    const a = await startTestNatsServer();
    const b = await startTestNatsServer();
    try {
      assert.notEqual(a.port, b.port);
      const nc = await a.connect();
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'PROBE', subjects: ['probe.>'] });
      await a.restart({ kill: true });
      const nc2 = await a.connect();
      const info = await (await jetstreamManager(nc2)).streams.info('PROBE');
      assert.equal(info.config.name, 'PROBE');
    } finally {
      await a.stop();
      await b.stop();
    }
    assert.equal(existsSync(a.storeDir), false);
  });

  it('names the missing binary and the apt command when nats-server is absent', async () => {
    await assert.rejects(
      startNatsServer({
        storeDir: '/tmp/herald-missing-bin',
        binary: 'nats-server-does-not-exist',
      }),
      (err: unknown) =>
        isHeraldError(err, ErrorCode.NatsServerMissing) &&
        /apt-get install nats-server/.test(err.message),
    );
  });
});

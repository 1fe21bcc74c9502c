import { strict as assert } from 'node:assert';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { countQueuedWrites, sendQueuedWrites, sendSoon } from '../../core/nats-write-batch.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';

describe('NATS writes batched per turn (core/nats-write-batch)', () => {
  it('runs queued writes at the end of the turn, in order, each failure to its own handler', async () => {
    const ran: string[] = [];
    const failures: string[] = [];
    sendSoon(() => ran.push('a'));
    sendSoon(
      () => {
        throw new Error('connection closed');
      },
      (err) => failures.push((err as Error).message),
    );
    sendSoon(() => ran.push('c'));
    assert.deepEqual(ran, [], 'nothing runs before the turn ends');
    assert.equal(countQueuedWrites(), 3);
    await nextTurn();
    assert.deepEqual(ran, ['a', 'c'], 'a failing write does not stop the others');
    assert.deepEqual(failures, ['connection closed']);
    assert.equal(countQueuedWrites(), 0);
  });

  it('sendQueuedWrites issues what is queued at once (before a connection closes)', () => {
    const ran: number[] = [];
    sendSoon(() => ran.push(1));
    sendSoon(() => {
      ran.push(2);
      sendSoon(() => ran.push(3)); // queued by a write: same pass
    });
    sendQueuedWrites();
    assert.deepEqual(ran, [1, 2, 3]);
    assert.equal(countQueuedWrites(), 0);
  });

  describe('with a real nats-server', () => {
    let nats: TestNatsServer;
    let pub: NatsConnection;
    let sub: NatsConnection;
    before(async () => {
      nats = await startTestNatsServer();
      pub = await nats.connect();
      sub = await nats.connect();
    });
    after(() => nats.stop());

    it('delivers publishes queued from separate callbacks, in order, including those issued just before close', async () => {
      const got: string[] = [];
      const s = sub.subscribe('batched.>', {
        callback: (_e, m) => {
          got.push(m.string());
        },
      });
      await sub.flush();
      // Separate macrotasks, as separate HTTP responses would settle deliveries.
      await Promise.all(
        Array.from(
          { length: 20 },
          (_, i) =>
            new Promise<void>((resolve) =>
              setTimeout(() => {
                sendSoon(() => pub.publish(`batched.${i}`, `m${i}`));
                resolve();
              }, 0),
            ),
        ),
      );
      sendSoon(() => pub.publish('batched.last', 'last'));
      sendQueuedWrites();
      await pub.drain();
      await sub.flush();
      await s.drain();
      assert.deepEqual(got, [...Array.from({ length: 20 }, (_, i) => `m${i}`), 'last']);
    });
  });
});

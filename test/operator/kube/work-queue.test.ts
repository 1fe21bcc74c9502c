import assert from 'node:assert/strict';
import { runWorkers, WorkQueue } from '../../../operator/kube/work-queue.js';

/** Resolves the next time `check` holds, polling on the event loop (no fixed sleeps). */
async function until(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setImmediate(r));
  }
}

describe('operator work queue', () => {
  it('keeps one entry per key however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    assert.equal(q.depth, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    q.shutDown();
  });

  it('never hands a key being processed to a second worker, and runs it once more after', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a'); // changed while being reconciled
    q.add('a');
    assert.equal(q.depth, 0, 'not handed out while processing');
    q.done(first!);
    assert.equal(q.depth, 1);
    assert.equal(await q.get(), 'a');
    q.done('a');
    assert.equal(q.depth, 0);
    q.shutDown();
  });

  it('backs a failing key off exponentially until it is forgotten', () => {
    const q = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1_000 });
    const delays = [1, 2, 3, 4, 5].map(() => q.addRateLimited('k'));
    assert.deepEqual(delays, [100, 200, 400, 800, 1_000]);
    q.forget('k');
    assert.equal(q.addRateLimited('k'), 100);
    q.shutDown();
  });

  it('keeps the earliest of several delayed adds', async () => {
    const q = new WorkQueue();
    q.addAfter('k', 60_000);
    q.addAfter('k', 10);
    q.addAfter('k', 30_000);
    assert.equal(await q.get(), 'k');
    q.shutDown();
  });

  it('reconciles with several workers, one pass per key at a time, retrying failures', async () => {
    const q = new WorkQueue({ baseDelayMs: 5 });
    const active = new Set<string>();
    let overlap = false;
    const passes = new Map<string, number>();
    const workers = runWorkers(q, {
      workers: 4,
      reconcile: async (key) => {
        if (active.has(key)) overlap = true;
        active.add(key);
        await new Promise((r) => setImmediate(r));
        active.delete(key);
        const n = (passes.get(key) ?? 0) + 1;
        passes.set(key, n);
        if (key === 'flaky' && n < 3) throw new Error('not yet');
        if (key === 'steps' && n < 4) return { requeue: true };
        return undefined;
      },
    });
    for (let i = 0; i < 20; i++) for (const k of ['a', 'b', 'flaky', 'steps']) q.add(k);
    await until(() => passes.get('flaky') === 3 && passes.get('steps') === 4);
    q.shutDown();
    await workers;
    assert.equal(overlap, false);
    assert.equal(passes.get('flaky'), 3, 'two failures, then success');
    assert.equal(passes.get('steps'), 4, 'one change per pass, requeued until done');
    assert.ok((passes.get('a') ?? 0) <= 20);
  });
});

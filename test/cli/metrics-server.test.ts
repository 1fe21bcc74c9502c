import assert from 'node:assert/strict';
import { generateConfigKey } from '../../core/config/seal.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { findFreePort, spawnHerald, type HeraldProcess } from '../support/processes.js';

describe('herald dispatcher --metrics-port', function () {
  this.timeout(60_000);
  let nats: TestNatsServer;
  let dispatcher: HeraldProcess;
  let base: string;
  before(async () => {
    nats = await startTestNatsServer();
    const port = await findFreePort();
    base = `http://127.0.0.1:${port}`;
    dispatcher = spawnHerald(
      ['dispatcher', '--nats', nats.url, '--metrics-port', String(port), '--log-level', 'info'],
      { HERALD_CONFIG_KEY: generateConfigKey() },
    );
    // Serving once the dispatcher has started (its first log lines are written by then).
    for (;;) {
      try {
        if ((await fetch(`${base}/healthz`)).ok) break;
      } catch {
        if (dispatcher.child.exitCode !== null) throw new Error(dispatcher.stderr());
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    await dispatcher?.stop();
    await nats?.stop();
  });

  it('serves the dispatcher’s Prometheus metrics for scraping', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
    const text = await res.text();
    assert.match(text, /^# HELP herald_dispatcher_deliveries_total /m);
    assert.match(text, /^# HELP herald_dispatcher_delivery_duration_seconds /m);
  });

  it('answers the probes the chart configures, and 404 elsewhere', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });

  it('is not ready while NATS is away, stays live, and is ready again once NATS is back', async () => {
    const statusOf = async (path: string) => (await fetch(`${base}${path}`)).status;
    await nats.restart({
      whileDown: async () => {
        await waitUntil(async () => (await statusOf('/readyz')) === 503, '/readyz 503');
        assert.equal(await statusOf('/healthz'), 200, 'live: nats.js reconnects by itself');
      },
    });
    await waitUntil(async () => (await statusOf('/readyz')) === 200, '/readyz 200 again');
    assert.match(dispatcher.stdout(), /NATS disconnected/);
    assert.match(dispatcher.stdout(), /NATS reconnected/);
  });
});

async function waitUntil(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

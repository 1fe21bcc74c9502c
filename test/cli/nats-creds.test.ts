/**
 * Herald against a NATS that admits only an nkey user, as an install with the chart's
 * `nats.credsSecret` meets it: the real `herald` executable with NATS_CREDS_FILE (or
 * --nats-creds) against a real nats-server, every command that connects.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { findFreePort, REPO_ROOT, spawnHerald } from '../support/processes.js';
import {
  formatCredsFile,
  NO_NATS_AUTH_ENV,
  nkeyUserConfig,
  runHeraldToEnd,
  seedOrdersSubscription,
  startConfiguredNatsServer,
  type ConfiguredNatsServer,
} from '../support/secured-nats.js';

describe('herald against NATS with a credentials file', function () {
  this.timeout(180_000);
  let nats: ConfiguredNatsServer;
  let credsFile: string;
  let seed: string;
  let credsEnv: NodeJS.ProcessEnv;

  before(async () => {
    const user = nkeys.createUser();
    seed = new TextDecoder().decode(user.getSeed());
    nats = await startConfiguredNatsServer(nkeyUserConfig(user.getPublicKey()));
    credsFile = join(nats.dir, 'herald.creds');
    writeFileSync(credsFile, formatCredsFile(seed), { mode: 0o600 });
    credsEnv = { ...NO_NATS_AUTH_ENV, NATS_CREDS_FILE: credsFile };
    await seedOrdersSubscription(nats.url, { credsFile }, { systemTopology: true });
  });
  after(() => nats?.stop());

  it('every one-shot command connects with NATS_CREDS_FILE', async () => {
    const status = await runHeraldToEnd(['status', '--nats', nats.url], credsEnv);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /shop\/orders\s+no-attempts/);

    const resume = await runHeraldToEnd(
      ['resume', '--nats', nats.url, '--subscription', 'shop/orders'],
      credsEnv,
    );
    assert.equal(resume.code, 0, resume.stderr);
    assert.match(resume.stdout, /shop\/orders is not paused/);

    const attempts = await runHeraldToEnd(
      ['attempts', '--nats', nats.url, '--subscription', 'shop/orders'],
      credsEnv,
    );
    assert.equal(attempts.code, 0, attempts.stderr);
    assert.match(attempts.stdout, /no attempt records for shop\/orders/);

    const dlq = await runHeraldToEnd(
      ['dlq', 'list', '--nats', nats.url, '--subscription', 'shop/orders'],
      credsEnv,
    );
    assert.equal(dlq.code, 0, dlq.stderr);
    assert.match(dlq.stdout + dlq.stderr, /no dead letters/i);
  });

  it('without credentials the server refuses, and the command says so without a seed', async () => {
    const res = await runHeraldToEnd(['status', '--nats', nats.url], NO_NATS_AUTH_ENV);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /cannot connect to NATS at .*Authorization Violation/i);
    assert.ok(!res.stderr.includes(seed) && !res.stdout.includes(seed));
  });

  it('a missing credentials file is a startup error naming the file', async () => {
    const missing = join(nats.dir, 'absent.creds');
    const status = await runHeraldToEnd(['status', '--nats', nats.url], {
      ...NO_NATS_AUTH_ENV,
      NATS_CREDS_FILE: missing,
    });
    assert.equal(status.code, 1);
    assert.ok(status.stderr.includes(`cannot read the NATS credentials file ${missing}`));

    const broker = await runHeraldToEnd(
      ['broker', '--nats', nats.url, '--nats-creds', missing, '--http-port', '0'],
      { ...NO_NATS_AUTH_ENV, HERALD_CONFIG_KEY: '11'.repeat(32) },
    );
    assert.equal(broker.code, 1);
    assert.match(broker.stderr, /^herald broker: cannot read the NATS credentials file /);
    assert.ok(broker.stderr.includes(missing), broker.stderr);
  });

  it('herald run --nats --nats-creds starts operator, dispatcher and broker on that server', async () => {
    const [httpPort, sinkPort] = [await findFreePort(), await findFreePort()];
    const resources = join(nats.dir, 'resources');
    mkdirSync(resources);
    for (const f of readdirSync(join(REPO_ROOT, 'examples'))) {
      const text = readFileSync(join(REPO_ROOT, 'examples', f), 'utf8');
      writeFileSync(join(resources, f), text.replaceAll(':8088', `:${sinkPort}`));
    }
    const herald = spawnHerald(
      [
        'run',
        '--nats',
        nats.url,
        '--nats-creds',
        credsFile,
        '--resources',
        resources,
        '--data-dir',
        join(nats.dir, 'run-data'),
        '--http-port',
        String(httpPort),
        '--grpc-port',
        '0',
        '--sink-port',
        String(sinkPort),
      ],
      NO_NATS_AUTH_ENV,
    );
    try {
      await herald.waitForOutput(/Herald is running/);
      assert.ok(herald.stdout().includes(`nats     ${nats.url}`), herald.stdout());
      const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
    } finally {
      assert.equal(await herald.stop(), 0, herald.stderr());
    }
    // The operator in file mode compiled the examples into this (authenticated) server.
    const status = await runHeraldToEnd(['status', '--nats', nats.url], credsEnv);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /shop\/demo-sink/);
    assert.ok(!(herald.stdout() + herald.stderr()).includes(seed), 'seed in herald run output');
  });
});

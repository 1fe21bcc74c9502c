/**
 * Herald against a NATS that requires TLS with client certificates, as the Helm chart sets it
 * up: the real `herald` executable with NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE and
 * NATS_TLS_KEY_FILE (or the flags), against a real nats-server using the committed test CA.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { findFreePort, spawnHerald } from '../support/processes.js';
import {
  mutualTlsConfig,
  NO_NATS_AUTH_ENV,
  runHeraldToEnd,
  seedOrdersSubscription,
  startConfiguredNatsServer,
  TLS_FIXTURES,
  type ConfiguredNatsServer,
} from '../support/secured-nats.js';

const TLS_ENV = {
  ...NO_NATS_AUTH_ENV,
  NATS_TLS_CA_FILE: TLS_FIXTURES.ca,
  NATS_TLS_CERT_FILE: TLS_FIXTURES.clientCert,
  NATS_TLS_KEY_FILE: TLS_FIXTURES.clientKey,
};

describe('herald against NATS with mutual TLS', function () {
  this.timeout(180_000);
  let nats: ConfiguredNatsServer;
  const configKey = randomBytes(32).toString('hex');

  before(async () => {
    nats = await startConfiguredNatsServer(mutualTlsConfig());
    await seedOrdersSubscription(nats.url, {
      tls: {
        caFile: TLS_FIXTURES.ca,
        certFile: TLS_FIXTURES.clientCert,
        keyFile: TLS_FIXTURES.clientKey,
      },
    });
  });
  after(() => nats?.stop());

  it('herald status connects with the NATS_TLS_* files the chart sets (nats:// URL)', async () => {
    const res = await runHeraldToEnd(['status', '--nats', nats.url], TLS_ENV);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /shop\/orders\s+no-attempts/);
  });

  it('herald status connects with the --nats-tls-* flags and a tls:// URL', async () => {
    const res = await runHeraldToEnd(
      [
        'status',
        '--nats',
        `tls://127.0.0.1:${nats.process.port}`,
        '--nats-tls-ca',
        TLS_FIXTURES.ca,
        '--nats-tls-cert',
        TLS_FIXTURES.clientCert,
        '--nats-tls-key',
        TLS_FIXTURES.clientKey,
      ],
      NO_NATS_AUTH_ENV,
    );
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /shop\/orders/);
  });

  it('without the TLS files herald status fails, saying it cannot connect to NATS', async () => {
    const res = await runHeraldToEnd(['status', '--nats', nats.url], NO_NATS_AUTH_ENV);
    assert.equal(res.code, 1);
    assert.match(res.stderr, new RegExp(`cannot connect to NATS at ${nats.url}: \\S`));
    assert.equal(res.stdout, '');
  });

  it('a client certificate without its key stops the command before connecting', async () => {
    const res = await runHeraldToEnd(['status', '--nats', nats.url], {
      ...TLS_ENV,
      NATS_TLS_KEY_FILE: '',
    });
    assert.equal(res.code, 1);
    assert.ok(res.stderr.includes(TLS_FIXTURES.clientCert), res.stderr);
    assert.match(res.stderr, /needs its key file too/);
  });

  it('herald broker connects over TLS and reports ready', async () => {
    const httpPort = await findFreePort();
    const broker = spawnHerald(
      [
        'broker',
        '--nats',
        nats.url,
        '--http-port',
        String(httpPort),
        '--grpc-port',
        '0',
        '--nats-tls-ca',
        TLS_FIXTURES.ca,
        '--nats-tls-cert',
        TLS_FIXTURES.clientCert,
        '--nats-tls-key',
        TLS_FIXTURES.clientKey,
      ],
      { ...NO_NATS_AUTH_ENV, HERALD_CONFIG_KEY: configKey },
    );
    try {
      await broker.waitForOutput(/broker listening/);
      const ready = await fetch(`http://127.0.0.1:${httpPort}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
    } finally {
      assert.equal(await broker.stop(), 0, broker.stderr());
    }
    assertNoKeyMaterial(broker.stdout() + broker.stderr());
  });

  it('herald dispatcher connects over TLS with the NATS_TLS_* env and starts', async () => {
    const dispatcher = spawnHerald(['dispatcher', '--nats', nats.url, '--metrics-port', '0'], {
      ...TLS_ENV,
      HERALD_CONFIG_KEY: configKey,
    });
    try {
      await dispatcher.waitForOutput(/dispatcher started/);
    } finally {
      assert.equal(await dispatcher.stop(), 0, dispatcher.stderr());
    }
    assertNoKeyMaterial(dispatcher.stdout() + dispatcher.stderr());
  });
});

/** No line of the client key file appears in what a process printed. */
function assertNoKeyMaterial(output: string): void {
  const keyLines = readFileSync(TLS_FIXTURES.clientKey, 'utf8')
    .split('\n')
    .filter((line) => line && !line.startsWith('-----'));
  for (const line of keyLines) assert.ok(!output.includes(line), 'client key material in output');
}

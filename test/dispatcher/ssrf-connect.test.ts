/**
 * The SSRF guard on the connection path: undici's pools resolve a sink's host once per
 * connection, check the answer, and connect to the checked address — so a resolver that
 * changes its answer (DNS rebinding) cannot get a second, unchecked address used. Connections
 * that really open go to 127.0.0.1 only; public addresses go to a fake socket opener that
 * records what it was asked and connects nowhere.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TLSSocket } from 'node:tls';
import { buildConnector } from 'undici';
import { createSilentLogger } from '../../core/logging.js';
import { SinkClients } from '../../dispatcher/deliver.js';
import { decideNextStep } from '../../dispatcher/retry.js';
import { createGuardedConnector, type ResolvedAddress } from '../../dispatcher/ssrf-connect.js';
import { createSinkAddressPolicy, ForbiddenAddressError } from '../../dispatcher/ssrf-policy.js';

/** A resolver that answers from a script, one answer per call, and counts the calls. */
function scriptedLookup(answers: string[][]) {
  const calls: string[] = [];
  const lookup = (hostname: string): Promise<ResolvedAddress[]> => {
    const answer = answers[Math.min(calls.length, answers.length - 1)] ?? [];
    calls.push(hostname);
    return Promise.resolve(
      answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };
  return { lookup, calls };
}

/** A socket opener that records its options and fails, so nothing leaves the machine. */
function recordingOpener() {
  const opened: buildConnector.Options[] = [];
  const connect: buildConnector.connector = (options, callback) => {
    opened.push(options);
    callback(
      Object.assign(new Error('fake opener: not connecting'), { code: 'ECONNREFUSED' }),
      null,
    );
  };
  return { connect, opened };
}

function connectOnce(connector: buildConnector.connector, options: buildConnector.Options) {
  return new Promise<unknown>((resolve) => connector(options, (...args) => resolve(args[0])));
}

describe('SSRF guard: the connector', () => {
  it('connects to the checked address, keeping the host name for SNI and Host', async () => {
    const { lookup, calls } = scriptedLookup([['93.184.216.34', '2606:2800:220:1::1']]);
    const { connect, opened } = recordingOpener();
    const connector = createGuardedConnector({
      policy: createSinkAddressPolicy(),
      lookup,
      connect,
    });
    await connectOnce(connector, {
      hostname: 'hooks.example',
      host: 'hooks.example:8443',
      protocol: 'https:',
      port: '8443',
    });
    assert.deepEqual(calls, ['hooks.example']);
    assert.equal(opened.length, 1);
    assert.equal(opened[0]?.hostname, '93.184.216.34');
    assert.equal(opened[0]?.servername, 'hooks.example');
    assert.equal(opened[0]?.host, 'hooks.example:8443');
  });

  it('DNS rebinding: one lookup per connection, and the second answer is checked too', async () => {
    // Public first (the check passes), internal on the next lookup (a rebinding attack).
    const { lookup, calls } = scriptedLookup([['93.184.216.34'], ['127.0.0.1']]);
    const { connect, opened } = recordingOpener();
    const connector = createGuardedConnector({
      policy: createSinkAddressPolicy(),
      lookup,
      connect,
    });
    const options = {
      hostname: 'rebind.example',
      host: 'rebind.example',
      protocol: 'http:',
      port: '',
    };
    await connectOnce(connector, options);
    assert.deepEqual(calls, ['rebind.example'], 'one lookup for the first connection');
    assert.deepEqual(
      opened.map((o) => o.hostname),
      ['93.184.216.34'],
      'the socket went to the address that was checked, not to the name',
    );
    const second = await connectOnce(connector, options);
    assert.equal(calls.length, 2, 'one lookup for the second connection');
    assert.ok(second instanceof ForbiddenAddressError);
    assert.equal(second.category, 'loopback');
    assert.equal(opened.length, 1, 'the rebound address was never connected to');
  });

  it('refuses a name with one public and one private address, without connecting', async () => {
    const { lookup } = scriptedLookup([['93.184.216.34', '10.0.0.7']]);
    const { connect, opened } = recordingOpener();
    const connector = createGuardedConnector({
      policy: createSinkAddressPolicy(),
      lookup,
      connect,
    });
    const err = await connectOnce(connector, {
      hostname: 'split.example',
      protocol: 'http:',
      port: '80',
    });
    assert.ok(err instanceof ForbiddenAddressError);
    assert.equal(err.address, '10.0.0.7');
    assert.equal(opened.length, 0);
  });

  it('checks IP literals (bracketed IPv6 too) without any lookup', async () => {
    const { lookup, calls } = scriptedLookup([['93.184.216.34']]);
    const { connect, opened } = recordingOpener();
    const connector = createGuardedConnector({
      policy: createSinkAddressPolicy(),
      lookup,
      connect,
    });
    for (const hostname of ['[::ffff:7f00:1]', '::1', '169.254.169.254']) {
      assert.ok(
        (await connectOnce(connector, { hostname, protocol: 'http:', port: '' })) instanceof
          ForbiddenAddressError,
      );
    }
    await connectOnce(connector, {
      hostname: '[2606:4700:4700::1111]',
      protocol: 'https:',
      port: '',
    });
    assert.deepEqual(calls, []);
    assert.equal(opened[0]?.hostname, '2606:4700:4700::1111');
    assert.equal(opened[0]?.servername, undefined, 'no SNI for an IP literal');
  });
});

describe('SSRF guard: SinkClients against a local sink', () => {
  let server: Server;
  let port: number;
  const received: IncomingHttpHeaders[] = [];
  let connections = 0;
  before(async () => {
    server = createServer((req, res) => {
      received.push(req.headers);
      req.resume().on('end', () => res.writeHead(204).end());
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => received.splice(0));

  const post = (sinks: SinkClients, url: string) =>
    sinks.send({ url: new URL(url), headers: {}, body: '{}' }, 2_000);

  it('by default refuses 127.0.0.1 as a forbidden address, and the sink sees nothing', async () => {
    const sinks = new SinkClients({ logger: createSilentLogger() });
    try {
      for (const host of ['127.0.0.1', '[::ffff:127.0.0.1]', '2130706433', '0x7f.1']) {
        const result = await post(sinks, `http://${host}:${port}/hook?token=secret`);
        assert.equal(result.kind === 'failure' && result.failure, 'forbidden_address', host);
        assert.ok(result.kind === 'failure' && !result.message.includes('secret'));
        // Not retried: dead-lettered at once with code forbidden_address.
        const step = decideNextStep(result, 1, {
          maxAttempts: 5,
          backoff: 'exponential',
          initialDelayMs: 1,
          maxDelayMs: 1,
          retryAfterMaxMs: 1,
        });
        assert.deepEqual(step.action === 'dead_letter' && step.code, 'forbidden_address');
      }
      assert.equal(received.length, 0);
    } finally {
      await sinks.close();
    }
  });

  it('with allowPrivateSinks, delivers to 127.0.0.1', async () => {
    const sinks = new SinkClients({ policy: { allowPrivateSinks: true } });
    try {
      const result = await post(sinks, `http://127.0.0.1:${port}/hook`);
      assert.deepEqual(result, { kind: 'response', status: 204 });
      assert.equal(received.length, 1);
    } finally {
      await sinks.close();
    }
  });

  it('a name is resolved once per connection; the Host header keeps the name; a rebound answer is refused', async () => {
    // While `answer` is 127.0.0.1 the sink is allowed (listed); then it rebinds to metadata.
    let answer = '127.0.0.1';
    const calls: string[] = [];
    const lookup = (hostname: string) => {
      calls.push(hostname);
      return Promise.resolve([{ address: answer, family: 4 }]);
    };
    const sinks = new SinkClients({ policy: { allowedCidrs: ['127.0.0.1/32'] }, lookup });
    try {
      const origin = `http://sink.test:${port}`;
      const connectionsBefore = connections;
      for (let i = 0; i < 4; i++) {
        assert.deepEqual(await post(sinks, `${origin}/hook`), { kind: 'response', status: 204 });
      }
      const opened = connections - connectionsBefore;
      assert.ok(opened >= 1 && opened < 4, `kept-alive connections were reused (${opened} opened)`);
      assert.equal(calls.length, opened, 'exactly one lookup per connection');
      assert.deepEqual(
        received.map((h) => h.host),
        Array<string>(4).fill(`sink.test:${port}`),
      );
      // A new connection (the pool is closed when unused) resolves again: now to metadata.
      answer = '169.254.169.254';
      await sinks.closeUnused(new Set());
      const refused = await post(sinks, `${origin}/hook`);
      assert.equal(refused.kind === 'failure' && refused.failure, 'forbidden_address');
      assert.match(
        refused.kind === 'failure' ? refused.message : '',
        /sink\.test resolves to a forbidden address \(metadata\)/,
      );
      assert.equal(calls.length, opened + 1);
      assert.equal(connections - connectionsBefore, opened, 'no socket for the refused address');
      assert.equal(received.length, 4);
    } finally {
      await sinks.close();
    }
  });

  it('an allowed host name reaches a private address', async () => {
    const { lookup } = scriptedLookup([['127.0.0.1']]);
    const sinks = new SinkClients({ policy: { allowedCidrs: ['sink.test'] }, lookup });
    try {
      assert.deepEqual(await post(sinks, `http://sink.test:${port}/`), {
        kind: 'response',
        status: 204,
      });
      const other = await post(sinks, `http://other.test:${port}/`);
      assert.equal(other.kind === 'failure' && other.failure, 'forbidden_address');
      assert.equal(received.length, 1);
    } finally {
      await sinks.close();
    }
  });
});

/**
 * A self-signed certificate for `sink.test` (EC P-256, valid 100 years), committed so the test
 * needs no openssl: made with `openssl req -x509 -newkey ec -pkeyopt
 * ec_paramgen_curve:prime256v1 -nodes -days 36500 -subj /CN=sink.test -addext
 * subjectAltName=DNS:sink.test`.
 */
function readTestCertificate(): { key: string; cert: string } {
  const dir = fileURLToPath(new URL('./fixtures/', import.meta.url));
  return {
    key: readFileSync(join(dir, 'sink-test-key.pem'), 'utf8'),
    cert: readFileSync(join(dir, 'sink-test-cert.pem'), 'utf8'),
  };
}

describe('SSRF guard: TLS to a resolved address', () => {
  it('sends SNI and checks the certificate against the host name, not the IP', async () => {
    const tls = readTestCertificate();
    const seen: { servername: string | false | null; host: string | undefined }[] = [];
    const server = createHttpsServer(tls, (req, res) => {
      seen.push({ servername: (req.socket as TLSSocket).servername, host: req.headers.host });
      req.resume().on('end', () => res.writeHead(204).end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const calls: string[] = [];
    const sinks = new SinkClients({
      policy: { allowPrivateSinks: true },
      lookup: (hostname) => {
        calls.push(hostname);
        return Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
      },
      // Trusts the test certificate; everything else is undici's own TLS connector.
      connect: buildConnector({ ca: tls.cert }),
    });
    try {
      const ok = await sinks.send(
        { url: new URL(`https://sink.test:${port}/hook`), headers: {}, body: '{}' },
        5_000,
      );
      assert.deepEqual(ok, { kind: 'response', status: 204 });
      assert.deepEqual(seen, [{ servername: 'sink.test', host: `sink.test:${port}` }]);
      assert.deepEqual(calls, ['sink.test']);
      // The same server by its IP: the certificate does not name 127.0.0.1, so TLS fails.
      const byIp = await sinks.send(
        { url: new URL(`https://127.0.0.1:${port}/hook`), headers: {}, body: '{}' },
        5_000,
      );
      assert.equal(byIp.kind === 'failure' && byIp.failure, 'network');
      assert.equal(seen.length, 1);
    } finally {
      await sinks.close();
      server.closeAllConnections();
      server.close();
    }
  });
});

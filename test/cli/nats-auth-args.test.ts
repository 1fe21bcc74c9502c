/**
 * The NATS credentials and TLS flags: the env vars are the ones the Helm chart sets, every
 * command that connects to NATS takes them (and says so in --help), and flag values become
 * the NatsAuth the parts connect with.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FLAGS, parseCommandFlags, type CommandSpec } from '../../cli/flags.js';
import { readNatsAuth } from '../../cli/nats-auth-args.js';
import { REPO_ROOT } from '../support/processes.js';
import { runHeraldToEnd } from '../support/secured-nats.js';

const AUTH_FLAGS = ['nats-creds', 'nats-tls-ca', 'nats-tls-cert', 'nats-tls-key'] as const;
const COMMANDS_WITH_NATS = [
  'run',
  'operator',
  'broker',
  'dispatcher',
  'attempts',
  'status',
  'resume',
  'dlq',
];

describe('NATS credentials and TLS flags', function () {
  this.timeout(120_000);

  it('read the env vars the Helm chart sets', () => {
    const helpers = readFileSync(join(REPO_ROOT, 'charts/herald/templates/_helpers.tpl'), 'utf8');
    const chartVars = [...helpers.matchAll(/- name: (NATS_(?:CREDS|TLS)_\w+)/g)].map((m) => m[1]);
    assert.deepEqual([...chartVars].sort(), [
      'NATS_CREDS_FILE',
      'NATS_TLS_CA_FILE',
      'NATS_TLS_CERT_FILE',
      'NATS_TLS_KEY_FILE',
    ]);
    assert.deepEqual(
      AUTH_FLAGS.map((f) => FLAGS[f].env),
      ['NATS_CREDS_FILE', 'NATS_TLS_CA_FILE', 'NATS_TLS_CERT_FILE', 'NATS_TLS_KEY_FILE'],
    );
  });

  it('turn flags and env into the NatsAuth the parts connect with', () => {
    const command: CommandSpec = { summary: 'test', flags: ['nats', ...AUTH_FLAGS] };
    const read = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      readNatsAuth(parseCommandFlags(command, argv, env));

    assert.equal(read([]), undefined);
    assert.equal(read([], { NATS_CREDS_FILE: '', NATS_TLS_CA_FILE: '' }), undefined);
    assert.deepEqual(read([], { NATS_CREDS_FILE: '/etc/herald/nats/nats.creds' }), {
      credsFile: '/etc/herald/nats/nats.creds',
    });
    assert.deepEqual(
      read([], {
        NATS_TLS_CA_FILE: '/etc/herald/nats-tls/ca.crt',
        NATS_TLS_CERT_FILE: '/etc/herald/nats-tls/tls.crt',
        NATS_TLS_KEY_FILE: '/etc/herald/nats-tls/tls.key',
      }),
      {
        tls: {
          caFile: '/etc/herald/nats-tls/ca.crt',
          certFile: '/etc/herald/nats-tls/tls.crt',
          keyFile: '/etc/herald/nats-tls/tls.key',
        },
      },
    );
    // A flag wins over its env var; server-only TLS is just the CA.
    assert.deepEqual(
      read(['--nats-tls-ca', '/tmp/ca.pem', '--nats-creds', '/tmp/a.creds'], {
        NATS_TLS_CA_FILE: '/etc/ca.crt',
      }),
      { credsFile: '/tmp/a.creds', tls: { caFile: '/tmp/ca.pem' } },
    );
  });

  it('are listed, with their env vars, in --help of every command that takes --nats', async () => {
    const helps = await Promise.all(
      COMMANDS_WITH_NATS.map((cmd) => runHeraldToEnd([cmd, '--help'], {})),
    );
    helps.forEach((res, i) => {
      const cmd = COMMANDS_WITH_NATS[i];
      assert.equal(res.code, 0, res.stderr);
      for (const flag of AUTH_FLAGS) {
        assert.ok(res.stdout.includes(`--${flag} VALUE`), `herald ${cmd} --help lacks --${flag}`);
        assert.ok(res.stdout.includes(`env ${FLAGS[flag].env}`), `herald ${cmd} --help lacks env`);
      }
    });
  });
});

/**
 * The SSRF policy an installation configures: allowPrivateSinks, blockedCidrs (cluster pod and
 * service ranges), allowedCidrs (CIDRs, IPs and host names), and how they combine.
 */
import { strict as assert } from 'node:assert';
import { parseCommandFlags, readList, type CommandSpec } from '../../cli/flags.js';
import { startDispatcher } from '../../dispatcher/main.js';
import {
  checkSinkAddress,
  CONFIGURED_CATEGORY,
  createSinkAddressPolicy,
  InvalidCidrError,
  SsrfErrorCode,
  type SinkAddressPolicyOptions,
} from '../../dispatcher/ssrf-policy.js';
import { createSilentLogger } from '../../core/logging.js';

/** 'allow' or the refusal category, for `address` reached through `host`. */
function verdictOf(options: SinkAddressPolicyOptions, address: string, host?: string): string {
  const v = checkSinkAddress(createSinkAddressPolicy(options), address, host);
  return v.allowed ? 'allow' : v.category;
}

function assertVerdicts(options: SinkAddressPolicyOptions, table: [string, string, string?][]) {
  const wrong = table
    .map(([address, want, host]) => [address, want, verdictOf(options, address, host), host])
    .filter(([, want, got]) => want !== got)
    .map(([address, want, got, host]) => `${host ?? ''} ${address}: want ${want}, got ${got}`);
  assert.deepEqual(wrong, []);
}

describe('SSRF policy', () => {
  it('by default allows public addresses only', () => {
    assertVerdicts({}, [
      ['8.8.8.8', 'allow'],
      ['2606:4700:4700::1111', 'allow'],
      ['::ffff:8.8.8.8', 'allow'],
      ['127.0.0.1', 'loopback'],
      ['::1', 'loopback'],
      ['10.0.0.1', 'private'],
      ['100.64.0.1', 'cgnat'],
      ['169.254.169.254', 'metadata'],
      ['not-an-ip', 'reserved'],
    ]);
  });

  it('allowPrivateSinks allows loopback, private, link-local and CGNAT, never metadata', () => {
    assertVerdicts({ allowPrivateSinks: true }, [
      ['127.0.0.1', 'allow'],
      ['::1', 'allow'],
      ['::ffff:127.0.0.1', 'allow'],
      ['0.0.0.0', 'allow'],
      ['10.0.0.1', 'allow'],
      ['192.168.1.1', 'allow'],
      ['fd12::1', 'allow'],
      ['169.254.1.1', 'allow'],
      ['fe80::1%eth0', 'allow'],
      ['100.64.0.1', 'allow'],
      ['198.18.0.1', 'allow'],
      ['8.8.8.8', 'allow'],
      ['169.254.169.254', 'metadata'],
      ['::ffff:169.254.169.254', 'metadata'],
      ['64:ff9b::169.254.169.254', 'metadata'],
      ['fd00:ec2::254', 'metadata'],
      ['100.100.100.200', 'metadata'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['240.0.0.1', 'reserved'],
      ['::8.8.8.8', 'reserved'],
      ['192.0.2.1', 'documentation'],
    ]);
  });

  it('blockedCidrs refuse cluster ranges, also when embedded in IPv6, and also public ones', () => {
    const options = {
      allowPrivateSinks: true,
      blockedCidrs: [
        '10.96.0.0/12',
        '10.244.0.0/16',
        'fd00:10:96::/112',
        '203.0.113.0/24',
        '8.8.8.0/24',
      ],
    };
    assertVerdicts(options, [
      ['10.96.0.10', CONFIGURED_CATEGORY],
      ['10.244.3.7', CONFIGURED_CATEGORY],
      ['::ffff:10.96.0.10', CONFIGURED_CATEGORY],
      ['64:ff9b::10.96.0.10', CONFIGURED_CATEGORY],
      ['2002:a60:a::1', CONFIGURED_CATEGORY], // 6to4 around 10.96.0.10
      ['fd00:10:96::a', CONFIGURED_CATEGORY],
      ['8.8.8.8', CONFIGURED_CATEGORY],
      ['10.1.0.1', 'allow'], // private, outside the blocked ranges
      ['8.8.4.4', 'allow'],
    ]);
  });

  it('allowedCidrs let chosen private addresses through, even metadata when listed', () => {
    assertVerdicts(
      { allowedCidrs: ['10.1.2.0/24', 'fd12::/16', '169.254.169.254', '127.0.0.1/32'] },
      [
        ['10.1.2.3', 'allow'],
        ['::ffff:10.1.2.3', 'allow'],
        ['10.1.3.3', 'private'],
        ['fd12::1', 'allow'],
        ['fd13::1', 'private'],
        ['169.254.169.254', 'allow'],
        ['169.254.170.2', 'metadata'],
        ['127.0.0.1', 'allow'],
        ['127.0.0.2', 'loopback'],
      ],
    );
  });

  it('the longest matching prefix decides between allowed and blocked; a tie blocks', () => {
    assertVerdicts(
      { blockedCidrs: ['10.0.0.0/8', '10.1.2.3/32'], allowedCidrs: ['10.1.0.0/16', '10.0.0.0/8'] },
      [
        ['10.1.0.5', 'allow'],
        ['10.1.2.3', CONFIGURED_CATEGORY],
        ['10.2.0.5', CONFIGURED_CATEGORY],
      ],
    );
  });

  it('an allowed host name may resolve to private addresses, but not to metadata', () => {
    const options = { allowedCidrs: ['Hooks.Internal.', 'bücher.example'] };
    assertVerdicts(options, [
      ['10.0.0.5', 'allow', 'hooks.internal'],
      ['127.0.0.1', 'allow', 'HOOKS.internal.'],
      ['169.254.169.254', 'metadata', 'hooks.internal'],
      ['10.0.0.5', 'allow', 'xn--bcher-kva.example'],
      ['10.0.0.5', 'private', 'other.internal'],
      ['10.0.0.5', 'private', 'sub.hooks.internal'],
      ['10.0.0.5', 'private'], // an IP literal is no host name
    ]);
    // Blocked ranges win over an allowed name.
    assertVerdicts({ ...options, blockedCidrs: ['10.0.0.0/24'] }, [
      ['10.0.0.5', CONFIGURED_CATEGORY, 'hooks.internal'],
    ]);
  });

  it('reads legacy IPv4 forms in allowedCidrs as the address they are', () => {
    assertVerdicts({ allowedCidrs: ['0x7f.1'] }, [['127.0.0.1', 'allow']]);
  });

  it('refuses malformed entries with a typed error naming the option and entry', () => {
    for (const [options, entry] of [
      [{ blockedCidrs: ['10.0.0.0/33'] }, '10.0.0.0/33'],
      [{ blockedCidrs: ['hooks.internal'] }, 'hooks.internal'], // blocking is by address only
      [{ allowedCidrs: ['10.0.0.300'] }, '10.0.0.300'],
      [{ allowedCidrs: ['not a host'] }, 'not a host'],
      [{ allowedCidrs: ['fe80::/10%eth0'] }, 'fe80::/10%eth0'],
    ] as const) {
      assert.throws(
        () => createSinkAddressPolicy(options),
        (err: unknown) =>
          err instanceof InvalidCidrError &&
          err.code === SsrfErrorCode.InvalidCidr &&
          err.message.includes(entry),
        entry,
      );
    }
  });

  it('startDispatcher refuses a bad CIDR before connecting anywhere', async () => {
    await assert.rejects(
      startDispatcher({
        natsUrl: 'nats://127.0.0.1:1',
        configKey: Buffer.alloc(32),
        logger: createSilentLogger(),
        blockedCidrs: ['10.0.0.0/40'],
      }),
      InvalidCidrError,
    );
  });
});

describe('SSRF policy on the command line', () => {
  const dispatcher: CommandSpec = {
    summary: 'test',
    flags: ['nats', 'allow-private-sinks', 'blocked-cidrs', 'allowed-cidrs'],
  };

  it('reads comma-separated lists from flags or env, trimmed, empty entries dropped', () => {
    const fromFlags = parseCommandFlags(
      dispatcher,
      ['--blocked-cidrs', '10.96.0.0/12, 10.244.0.0/16,', '--allowed-cidrs', 'hooks.internal'],
      {},
    );
    assert.deepEqual(readList(fromFlags, 'blocked-cidrs'), ['10.96.0.0/12', '10.244.0.0/16']);
    assert.deepEqual(readList(fromFlags, 'allowed-cidrs'), ['hooks.internal']);
    const fromEnv = parseCommandFlags(dispatcher, [], {
      HERALD_BLOCKED_CIDRS: 'fd00::/8',
      HERALD_ALLOWED_CIDRS: '10.1.0.0/16,127.0.0.1',
    });
    assert.deepEqual(readList(fromEnv, 'blocked-cidrs'), ['fd00::/8']);
    assert.deepEqual(readList(fromEnv, 'allowed-cidrs'), ['10.1.0.0/16', '127.0.0.1']);
    assert.deepEqual(readList(parseCommandFlags(dispatcher, [], {}), 'blocked-cidrs'), []);
  });
});

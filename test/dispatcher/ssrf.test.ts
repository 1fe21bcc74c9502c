/**
 * The SSRF guard's verdict on sink targets, from the URI a Subscription names to the address
 * that would be connected to: every host form WHATWG URL parsing accepts (decimal, octal, hex,
 * short IPv4; IPv6 literals; percent-encoded and full-width digits), and names answered by an
 * injected resolver. Nothing here opens a socket.
 */
import { strict as assert } from 'node:assert';
import {
  AddressCategory,
  classifyAddress,
  parseCidr,
  parseIpAddress,
  type IpAddress,
} from '../../dispatcher/ssrf.js';
import { resolveSinkAddress, type ResolvedAddress } from '../../dispatcher/ssrf-connect.js';
import {
  createSinkAddressPolicy,
  ForbiddenAddressError,
  SsrfErrorCode,
} from '../../dispatcher/ssrf-policy.js';

/** What the fake DNS answers; a name not listed is NXDOMAIN. */
const ZONE: Record<string, string[]> = {
  localhost: ['127.0.0.1', '::1'],
  'internal.example.': ['10.0.0.5'],
  'metadata.google.internal': ['169.254.169.254'],
  '169.254.169.254.nip.io': ['169.254.169.254'],
  'mixed.example': ['93.184.216.34', '10.0.0.1'],
  'mixed6.example': ['2606:2800:220:1::1', 'fe80::1%eth0'],
  'mapped.example': ['::ffff:192.168.0.1'],
  'cgnat.example': ['100.64.3.4'],
  'public.example': ['93.184.216.34', '2606:2800:220:1::1'],
};

function fakeLookup(calls: string[] = []) {
  return (hostname: string): Promise<ResolvedAddress[]> => {
    calls.push(hostname);
    const answers = ZONE[hostname];
    if (!answers)
      return Promise.reject(Object.assign(new Error('nxdomain'), { code: 'ENOTFOUND' }));
    return Promise.resolve(
      answers.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };
}

type Verdict = AddressCategory | 'invalid_url';

/** The verdict for a sink URI under the cluster default (nothing private allowed). */
async function judge(uri: string): Promise<{ verdict: Verdict; address?: string }> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return { verdict: 'invalid_url' };
  }
  try {
    const { address } = await resolveSinkAddress(
      url.hostname,
      createSinkAddressPolicy(),
      fakeLookup(),
    );
    return { verdict: AddressCategory.Public, address };
  } catch (err) {
    if (!(err instanceof ForbiddenAddressError)) throw err;
    assert.equal(err.code, SsrfErrorCode.ForbiddenAddress);
    return { verdict: err.category as AddressCategory, address: err.address };
  }
}

const L = AddressCategory;
/** [sink URI, expected verdict, the address it is judged by (when it differs from the URI's)] */
const TARGETS: [string, Verdict, string?][] = [
  // IPv4 in every form the URL parser folds to dotted-decimal
  ['http://127.0.0.1:8080/hook', L.Loopback],
  ['http://2130706433/', L.Loopback, '127.0.0.1'], // decimal
  ['http://0177.0.0.1/', L.Loopback, '127.0.0.1'], // octal
  ['http://017700000001/', L.Loopback, '127.0.0.1'], // octal, one number
  ['http://0x7f.0.0.1/', L.Loopback, '127.0.0.1'], // hex
  ['http://0x7F000001/', L.Loopback, '127.0.0.1'], // hex, one number, upper-case
  ['http://127.1/', L.Loopback, '127.0.0.1'], // short form
  ['http://0x7f.1/', L.Loopback, '127.0.0.1'], // short hex
  ['http://127.0.0.1./', L.Loopback, '127.0.0.1'], // trailing dot
  ['http://%31%32%37.0.0.1/', L.Loopback, '127.0.0.1'], // percent-encoded
  ['http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/', L.Loopback, '127.0.0.1'], // full-width
  ['http://0/', L.Unspecified, '0.0.0.0'],
  ['http://0.0.0.0:80/', L.Unspecified],
  ['http://10.1.2.3/', L.Private],
  ['http://0xa.1.2.3/', L.Private, '10.1.2.3'],
  ['http://172.16.0.1/', L.Private],
  ['http://172.32.0.1/', L.Public], // just outside 172.16/12
  ['https://192.168.1.1/', L.Private],
  ['http://169.254.169.254/latest/meta-data/', L.Metadata],
  ['http://0xa9fea9fe/', L.Metadata, '169.254.169.254'],
  ['http://2852039166/', L.Metadata, '169.254.169.254'],
  ['http://169.254.170.2/v2/credentials', L.Metadata], // AWS ECS
  ['http://100.100.100.200/', L.Metadata], // Alibaba Cloud
  ['http://168.63.129.16/', L.Metadata], // Azure WireServer
  ['http://169.254.1.1/', L.LinkLocal],
  ['http://100.64.0.1/', L.Cgnat],
  ['http://224.0.0.1/', L.Multicast],
  ['http://255.255.255.255/', L.Broadcast],
  ['http://240.0.0.1/', L.Reserved],
  ['http://198.18.0.1/', L.Benchmarking],
  ['http://192.0.2.10/', L.Documentation],
  ['http://8.8.8.8/', L.Public],
  ['http://1.2.3.4.5/', 'invalid_url'], // ends in a number but is no IPv4
  // IPv6 literals
  ['http://[::1]:8080/', L.Loopback, '::1'],
  ['http://[0:0:0:0:0:0:0:1]/', L.Loopback, '::1'],
  ['http://[::]/', L.Unspecified, '::'],
  ['http://[::ffff:127.0.0.1]/', L.Loopback, '::ffff:7f00:1'], // IPv4-mapped
  ['http://[::ffff:a9fe:a9fe]/', L.Metadata, '::ffff:a9fe:a9fe'], // mapped, hex
  ['http://[0:0:0:0:0:ffff:10.0.0.1]/', L.Private, '::ffff:a00:1'],
  ['http://[::ffff:8.8.8.8]/', L.Public, '::ffff:808:808'],
  ['http://[::127.0.0.1]/', L.Loopback, '::7f00:1'], // IPv4-compatible
  ['http://[::8.8.8.8]/', L.Reserved, '::808:808'], // compatible is never public
  ['http://[::ffff:0:127.0.0.1]/', L.Loopback, '::ffff:0:7f00:1'], // SIIT
  ['http://[64:ff9b::10.0.0.1]/', L.Private, '64:ff9b::a00:1'], // NAT64
  ['http://[64:ff9b::169.254.169.254]/', L.Metadata, '64:ff9b::a9fe:a9fe'],
  ['http://[64:ff9b::8.8.8.8]/', L.Public, '64:ff9b::808:808'], // DNS64 on IPv6-only nodes
  ['http://[2002:7f00:1::]/', L.Loopback, '2002:7f00:1::'], // 6to4 around 127.0.0.1
  ['http://[2002:c0a8:101::1]/', L.Private, '2002:c0a8:101::1'], // 6to4 around 192.168.1.1
  ['http://[2002:808:808::1]/', L.Public, '2002:808:808::1'],
  ['http://[fe80::1%25eth0]/', 'invalid_url'], // zone ids are not URL syntax
  ['http://[fe80::1]/', L.LinkLocal, 'fe80::1'],
  ['http://[fd12:3456::1]/', L.Private, 'fd12:3456::1'], // ULA
  ['http://[FD00:EC2::254]/', L.Metadata, 'fd00:ec2::254'], // AWS IMDS over IPv6
  ['http://[fd20:ce::254]/', L.Metadata, 'fd20:ce::254'], // GCP
  ['http://[ff02::1]/', L.Multicast, 'ff02::1'],
  ['http://[2001:db8::1]/', L.Documentation, '2001:db8::1'],
  [
    'http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/',
    L.Reserved,
    '2001:0:4136:e378:8000:63bf:3fff:fdd2',
  ], // Teredo
  ['http://[5f00::1]/', L.Reserved, '5f00::1'], // outside 2000::/3
  ['http://[2606:4700:4700::1111]/', L.Public, '2606:4700:4700::1111'],
  // names, answered by the fake resolver
  ['http://LOCALHOST/', L.Loopback, '127.0.0.1'],
  ['http://internal.example./', L.Private, '10.0.0.5'],
  ['http://metadata.google.internal/computeMetadata/v1/', L.Metadata, '169.254.169.254'],
  ['http://169.254.169.254.nip.io/', L.Metadata, '169.254.169.254'],
  ['http://mixed.example/', L.Private, '10.0.0.1'], // one public + one private: refused
  ['http://mixed6.example/', L.LinkLocal, 'fe80::1%eth0'], // with a zone id from the resolver
  ['http://mapped.example/', L.Private, '::ffff:192.168.0.1'],
  ['http://cgnat.example/', L.Cgnat, '100.64.3.4'],
  ['https://public.example/hook?token=x', L.Public, '93.184.216.34'],
];

describe('SSRF guard: the verdict on sink targets', () => {
  it(`judges ${TARGETS.length} targets by the address they would connect to`, async () => {
    const failures: string[] = [];
    for (const [uri, expected, address] of TARGETS) {
      const got = await judge(uri);
      const wantAddress =
        address ?? (expected === 'invalid_url' ? undefined : new URL(uri).hostname);
      if (got.verdict !== expected || (wantAddress && got.address !== wantAddress)) {
        failures.push(
          `${uri}: expected ${expected} at ${wantAddress}, got ${got.verdict} at ${got.address}`,
        );
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(TARGETS.length >= 25);
  });

  it('looks a name up once, and an IP literal not at all', async () => {
    const calls: string[] = [];
    const policy = createSinkAddressPolicy();
    await resolveSinkAddress('public.example', policy, fakeLookup(calls));
    await resolveSinkAddress('8.8.8.8', policy, fakeLookup(calls));
    await resolveSinkAddress('[2606:4700:4700::1111]', policy, fakeLookup(calls));
    await assert.rejects(
      resolveSinkAddress('127.0.0.1', policy, fakeLookup(calls)),
      ForbiddenAddressError,
    );
    assert.deepEqual(calls, ['public.example']);
  });

  it('passes resolver failures through as they are (a retryable network error)', async () => {
    await assert.rejects(
      resolveSinkAddress('nowhere.example', createSinkAddressPolicy(), fakeLookup()),
      (err: Error & { code?: string }) => err.code === 'ENOTFOUND',
    );
    await assert.rejects(
      resolveSinkAddress('empty.example', createSinkAddressPolicy(), () => Promise.resolve([])),
      (err: Error & { code?: string }) => err.code === 'ENOTFOUND',
    );
  });

  it('names the host and category but not the resolved address in its message', async () => {
    const err = await resolveSinkAddress(
      'internal.example.',
      createSinkAddressPolicy(),
      fakeLookup(),
    ).catch((e: unknown) => e);
    assert.ok(err instanceof ForbiddenAddressError);
    assert.equal(err.address, '10.0.0.5');
    assert.match(err.message, /internal\.example\. resolves to a forbidden address \(private\)/);
    assert.doesNotMatch(err.message, /10\.0\.0\.5/);
  });
});

describe('SSRF guard: parsing addresses', () => {
  it('classifies the same address written differently the same way', () => {
    for (const same of [
      ['::ffff:127.0.0.1', '::ffff:7f00:1', '0:0:0:0:0:ffff:7f00:0001', '[::FFFF:7F00:1]'],
      ['fe80::1', 'fe80::1%eth0', 'FE80:0:0:0:0:0:0:1', 'fe80::0.0.0.1'],
    ]) {
      const verdicts = same.map((a) => JSON.stringify(classifyAddress(a)));
      assert.equal(new Set(verdicts).size, 1, `${same.join(' ')}: ${verdicts.join(' ')}`);
    }
  });

  it('refuses what is not an IP literal (legacy IPv4 forms are the URL parser’s job)', () => {
    for (const text of [
      '0x7f.0.0.1',
      '127.1',
      '2130706433',
      '1.2.3',
      'localhost',
      '::ffff::1',
      '',
      '1.2.3.256',
    ])
      assert.equal(parseIpAddress(text), undefined, text);
  });

  it('reads IPv6 exactly as the WHATWG URL parser does (500 random addresses)', () => {
    let seed = 42;
    const random = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let i = 0; i < 500; i++) {
      const groups = Array.from({ length: 8 }, () => (random(3) === 0 ? 0 : random(0x10000)));
      const hex = groups.map((g) => g.toString(16));
      const g6 = groups[6] ?? 0;
      const g7 = groups[7] ?? 0;
      const dotted = `${g6 >> 8}.${g6 & 255}.${g7 >> 8}.${g7 & 255}`;
      let text = (random(4) === 0 ? [...hex.slice(0, 6), dotted] : hex).join(':');
      if (random(2) === 0) text = text.replace(/(^|:)0(:0)+(:|$)/, '::'); // compress a zero run
      const parsed = parseIpAddress(text) as IpAddress;
      assert.ok(parsed, text);
      const expected = groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
      assert.equal(parsed.value, expected, text);
      // And the URL parser agrees it is the same address.
      const full = expected
        .toString(16)
        .padStart(32, '0')
        .replace(/(.{4})(?!$)/g, '$1:');
      assert.equal(
        new URL(`http://[${text}]/`).hostname,
        new URL(`http://[${full}]/`).hostname,
        text,
      );
    }
  });

  it('parses CIDRs, and refuses malformed ones', () => {
    assert.deepEqual(parseCidr('10.0.0.0/8'), { family: 4, value: 0x0a000000n, prefix: 8 });
    assert.deepEqual(parseCidr('10.1.2.3'), { family: 4, value: 0x0a010203n, prefix: 32 });
    assert.deepEqual(parseCidr('fd00::/8'), { family: 6, value: 0xfdn << 120n, prefix: 8 });
    for (const bad of [
      '10.0.0.0/33',
      '10.0.0.0/',
      '10.0.0.0/8/8',
      '::/129',
      'fe80::1%eth0/64',
      '10/8',
      'x/8',
      '10.0.0.0/-1',
      '10.0.0.0/ 8',
    ])
      assert.equal(parseCidr(bad), undefined, bad);
  });
});

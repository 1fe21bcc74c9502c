import { strict as assert } from 'node:assert';
import { hashApiKey, unsealSecret } from '../../core/config/seal.js';
import type { HeraldResource, Secret } from '../../core/resources/types.js';
import {
  compileResources,
  ProblemReason,
  Severity,
  typeOwnerKey,
  type CompileInput,
  type ResourceProblem,
} from '../../operator/compile.js';
import {
  compile,
  configKey,
  eventType,
  NS,
  orderCreated,
  producer,
  secret,
  subscription,
} from './fixtures.js';

interface ProblemCase {
  title: string;
  resources: HeraldResource[];
  secrets?: Secret[];
  expect: Omit<Partial<ResourceProblem>, 'message'> & { message?: RegExp };
  /** Whether the resource named in `expect` is still in the config. */
  compiled: boolean;
}

const problemCases: ProblemCase[] = [
  {
    title: 'a Producer whose API key Secret is missing',
    resources: [
      orderCreated,
      producer('acme', {
        auth: { apiKeys: [{ secretRef: { name: 'acme-creds', key: 'api-key' } }] },
      }),
    ],
    expect: {
      kind: 'Producer',
      name: 'acme',
      reason: ProblemReason.SecretNotFound,
      severity: Severity.Error,
      path: 'spec.auth.apiKeys[0].secretRef',
      message: /Secret "shop\/acme-creds" not found/,
    },
    compiled: false,
  },
  {
    title: 'a Producer whose Secret lacks the key',
    resources: [
      orderCreated,
      producer('acme', { auth: { hmac: { secretRef: { name: 'acme-creds', key: 'signing' } } } }),
    ],
    secrets: [secret('acme-creds', { other: 'x' })],
    expect: {
      reason: ProblemReason.SecretNotFound,
      path: 'spec.auth.hmac.secretRef',
      message: /no key "signing"/,
    },
    compiled: false,
  },
  {
    title: 'a Subscription whose signing Secret is in another namespace',
    resources: [
      orderCreated,
      subscription('partner', {
        delivery: { signing: { secretRef: { name: 'sig', key: 'secret' } } },
      }),
    ],
    secrets: [secret('sig', { secret: 'whsec_abc' }, 'other')],
    expect: {
      kind: 'Subscription',
      reason: ProblemReason.SecretNotFound,
      path: 'spec.delivery.signing.secretRef',
    },
    compiled: false,
  },
  {
    title: 'a Subscription whose sink bearer Secret is missing',
    resources: [
      orderCreated,
      subscription('partner', {
        sink: {
          uri: 'https://x.example',
          auth: { bearer: { secretRef: { name: 'tok', key: 't' } } },
        },
      }),
    ],
    expect: { reason: ProblemReason.SecretNotFound, path: 'spec.sink.auth.bearer.secretRef' },
    compiled: false,
  },
  {
    title: 'a Subscription naming an EventType of another namespace',
    resources: [eventType('order-created', {}, 'other'), subscription('partner')],
    expect: {
      kind: 'Subscription',
      reason: ProblemReason.EventTypeNotFound,
      severity: Severity.Error,
      path: 'spec.eventTypes[0]',
      message: /"shop\/order-created"/,
    },
    compiled: false,
  },
  {
    title: 'a Producer naming a missing EventType (a warning: it still compiles)',
    resources: [orderCreated, producer('acme', { eventTypes: ['order-created', 'order-shipped'] })],
    expect: {
      kind: 'Producer',
      reason: ProblemReason.EventTypeNotFound,
      severity: Severity.Warning,
      path: 'spec.eventTypes[1]',
    },
    compiled: true,
  },
  {
    title: 'a source pattern whose * ends the host, matching look-alike hosts (a warning)',
    resources: [
      orderCreated,
      producer('acme', { sources: ['https://acme.example/*', 'https://acme.example*'] }),
    ],
    expect: {
      kind: 'Producer',
      reason: ProblemReason.InvalidValue,
      severity: Severity.Warning,
      path: 'spec.sources[1]',
      message: /end it with "\/\*"/,
    },
    compiled: true,
  },
  {
    title: 'two EventTypes with one CloudEvents type (the later by name loses)',
    resources: [
      eventType('b-second', { type: 'com.example.same' }),
      eventType('a-first', { type: 'com.example.same' }),
    ],
    expect: {
      kind: 'EventType',
      name: 'b-second',
      reason: ProblemReason.DuplicateType,
      path: 'spec.type',
      message: /a-first/,
    },
    compiled: false,
  },
  {
    title: 'a schema that is not JSON Schema',
    resources: [eventType('bad', { schema: { type: 'strin' } })],
    expect: {
      kind: 'EventType',
      name: 'bad',
      reason: ProblemReason.InvalidSchema,
      path: 'spec.schema',
    },
    compiled: false,
  },
  {
    title: 'a schema with an unresolvable $ref',
    resources: [eventType('bad', { schema: { $ref: '#/$defs/missing' } })],
    expect: { reason: ProblemReason.InvalidSchema },
    compiled: false,
  },
  {
    title: 'a CESQL filter that does not parse',
    resources: [
      orderCreated,
      subscription('partner', {
        filters: [{ prefix: { source: 'https://a/' } }, { sql: "subject LIKE 'eu-%' AND (" }],
      }),
    ],
    expect: {
      reason: ProblemReason.InvalidFilter,
      path: 'spec.filters[1].sql',
      message:
        /^CESQL expression does not parse: unexpected end of expression at line 1, column 26 \(offset 25\)$/,
    },
    compiled: false,
  },
  {
    title: 'a CESQL filter nested in all/not that can never match',
    resources: [
      orderCreated,
      subscription('partner', {
        filters: [{ all: [{ exact: { type: 'x' } }, { not: { sql: 'NO_SUCH(subject)' } }] }],
      }),
    ],
    expect: {
      reason: ProblemReason.InvalidFilter,
      path: 'spec.filters[0].all[1].not.sql',
      message: /no function NO_SUCH takes 1 argument/,
    },
    compiled: false,
  },
  {
    title: 'an unparsable duration',
    resources: [orderCreated, subscription('partner', { delivery: { timeout: 'ten seconds' } })],
    expect: {
      reason: ProblemReason.InvalidValue,
      path: 'spec.delivery.timeout',
      message: /ten seconds/,
    },
    compiled: false,
  },
  {
    title: 'a duplicate window longer than the retention',
    resources: [eventType('short', { retention: { maxAge: '1m' }, duplicateWindow: '5m' })],
    expect: { reason: ProblemReason.InvalidValue, path: 'spec.duplicateWindow' },
    compiled: false,
  },
  {
    title: 'a startFrom that is neither new, earliest nor a time',
    resources: [orderCreated, subscription('partner', { startFrom: 'yesterday' })],
    expect: { reason: ProblemReason.InvalidValue, path: 'spec.startFrom' },
    compiled: false,
  },
  {
    title: 'a startFrom on a day that does not exist (not rolled over into March)',
    resources: [orderCreated, subscription('partner', { startFrom: '2024-02-30T00:00:00Z' })],
    expect: { reason: ProblemReason.InvalidValue, path: 'spec.startFrom', message: /2024-02-30/ },
    compiled: false,
  },
  {
    title: 'a signing secret without the whsec_ prefix',
    resources: [
      orderCreated,
      subscription('partner', {
        delivery: { signing: { secretRef: { name: 'sig', key: 'secret' } } },
      }),
    ],
    secrets: [secret('sig', { secret: 'c2lnbmluZy1zZWNyZXQtdmFsdWUtMDEyMzQ1Njc4OQ==' })],
    expect: {
      reason: ProblemReason.InvalidValue,
      path: 'spec.delivery.signing.secretRef',
      message: /Secret "shop\/sig" key "secret" is not a signing secret: .*whsec_/,
    },
    compiled: false,
  },
  {
    title: 'a signing secret that is not strict base64',
    resources: [
      orderCreated,
      subscription('partner', {
        delivery: { signing: { secretRef: { name: 'sig', key: 'secret' } } },
      }),
    ],
    secrets: [secret('sig', { secret: 'whsec_c2lnbmluZy1zZWNyZXQtdmFsdWUtMDEyMzQ1Njc4OQ' })],
    expect: { reason: ProblemReason.InvalidValue, message: /not valid base64/ },
    compiled: false,
  },
  {
    title: 'an HMAC secret of fewer than 24 bytes',
    resources: [
      orderCreated,
      producer('acme', { auth: { hmac: { secretRef: { name: 'acme', key: 'hmac' } } } }),
    ],
    secrets: [secret('acme', { hmac: 'whsec_aG1hYy1zZWNyZXQtdmFsdWU=' })],
    expect: {
      kind: 'Producer',
      reason: ProblemReason.InvalidValue,
      path: 'spec.auth.hmac.secretRef',
      message: /24–64 bytes, not 17/,
    },
    compiled: false,
  },
  {
    title: 'two Producers with the same API key (the later by name is refused)',
    resources: [
      orderCreated,
      producer('zeta', { auth: { apiKeys: [{ secretRef: { name: 'z', key: 'k' } }] } }),
      producer('alpha', { auth: { apiKeys: [{ secretRef: { name: 'a', key: 'k' } }] } }),
    ],
    secrets: [
      secret('z', { k: 'shared-key-0123456789' }),
      secret('a', { k: 'shared-key-0123456789' }),
    ],
    expect: {
      kind: 'Producer',
      name: 'zeta',
      reason: ProblemReason.DuplicateCredential,
      path: 'spec.auth.apiKeys[0].secretRef',
      message: /Secret "shop\/z" key "k" is already used by Producer "shop\/alpha"/,
    },
    compiled: false,
  },
  {
    title: 'the same Subscription defined twice (the second is dropped)',
    resources: [orderCreated, subscription('partner'), subscription('partner', { paused: true })],
    expect: { kind: 'Subscription', reason: ProblemReason.DuplicateName },
    compiled: true,
  },
];

describe('compileResources', () => {
  describe('problems', () => {
    for (const c of problemCases) {
      it(`reports ${c.expect.reason}: ${c.title}`, () => {
        const { config, problems } = compile(c.resources, c.secrets);
        assert.equal(problems.length, 1, JSON.stringify(problems, null, 2));
        const [p] = problems as [ResourceProblem];
        const { message, ...fields } = c.expect;
        for (const [k, v] of Object.entries(fields))
          assert.equal(p[k as keyof ResourceProblem], v, k);
        assert.equal(p.namespace, NS);
        if (message) assert.match(p.message, message);
        const all = [...config.eventTypes, ...config.producers, ...config.subscriptions];
        const found = all.some((e) => e.name === p.name && e.namespace === p.namespace);
        assert.equal(found, c.compiled);
        // Everything else in the input still compiled.
        const others = c.resources.filter((r) => r.metadata.name !== p.name);
        for (const r of others)
          assert.ok(
            all.some((e) => e.name === r.metadata.name),
            r.metadata.name,
          );
      });
    }

    it('never puts a secret value into a problem message', () => {
      const { problems } = compile(
        [
          orderCreated,
          producer('acme', { auth: { apiKeys: [{ secretRef: { name: 'c', key: 'wrong' } }] } }),
          producer('beta', { auth: { apiKeys: [{ secretRef: { name: 'c', key: 'api-key' } }] } }),
          producer('gamma', { auth: { apiKeys: [{ secretRef: { name: 'c', key: 'api-key' } }] } }),
          producer('delta', { auth: { hmac: { secretRef: { name: 'c', key: 'api-key' } } } }),
        ],
        [secret('c', { 'api-key': 'super-secret-value' })],
      );
      assert.deepEqual(
        problems.map((p) => p.reason),
        // In name order: acme, delta, gamma.
        [
          ProblemReason.SecretNotFound,
          ProblemReason.InvalidValue,
          ProblemReason.DuplicateCredential,
        ],
      );
      assert.doesNotMatch(JSON.stringify(problems), /super-secret-value/);
    });

    it('refuses an API key another namespace’s Producer uses, without naming that Producer', () => {
      const { problems } = compile(
        [
          orderCreated,
          producer('acme', { auth: { apiKeys: [{ secretRef: { name: 'k', key: 'k' } }] } }, 'a-ns'),
          producer('acme', { auth: { apiKeys: [{ secretRef: { name: 'k', key: 'k' } }] } }, 'b-ns'),
        ],
        [
          secret('k', { k: 'one-key-0123456789' }, 'a-ns'),
          secret('k', { k: 'one-key-0123456789' }, 'b-ns'),
        ],
      );
      const dup = problems.filter((p) => p.reason === ProblemReason.DuplicateCredential);
      assert.equal(dup.length, 1);
      assert.equal(dup[0]?.namespace, 'b-ns');
      assert.match(dup[0]?.message ?? '', /already used by a Producer in another namespace$/);
      assert.doesNotMatch(dup[0]?.message ?? '', /a-ns/);
    });
  });

  describe('type ownership', () => {
    const same = (name: string) => eventType(name, { type: 'com.example.same' });

    it('keeps a type with the EventType that owned it, even when a newcomer sorts first', () => {
      const before = compile([same('m-owner')]);
      assert.deepEqual(before.problems, []);
      const after = compileResources(
        {
          resources: [same('m-owner'), same('a-newcomer')],
          secrets: [],
          previousTypeOwners: before.typeOwners,
        },
        { configKey },
      );
      assert.deepEqual(
        after.config.eventTypes.map((e) => e.name),
        ['m-owner'],
      );
      assert.equal(after.problems.length, 1);
      assert.equal(after.problems[0]?.name, 'a-newcomer');
      assert.equal(after.problems[0]?.reason, ProblemReason.DuplicateType);
      assert.match(after.problems[0]?.message ?? '', /"shop\/m-owner"/);
      // And the owner stays the owner while it is broken, so nothing flips when it is fixed.
      const broken = compileResources(
        {
          resources: [
            eventType('m-owner', { type: 'com.example.same', schema: { type: 'strin' } }),
            same('a-newcomer'),
          ],
          secrets: [],
          previousTypeOwners: after.typeOwners,
        },
        { configKey },
      );
      assert.deepEqual(broken.config.eventTypes, []);
      assert.equal(broken.typeOwners.get(typeOwnerKey(NS, 'com.example.same')), 'm-owner');
    });

    it('lets name order decide among newcomers, and a sole claimant own its type', () => {
      const owners = new Map([[typeOwnerKey(NS, 'com.example.same'), 'gone']]);
      const { config, problems } = compileResources(
        { resources: [same('b-two'), same('a-one')], secrets: [], previousTypeOwners: owners },
        { configKey },
      );
      assert.deepEqual(
        config.eventTypes.map((e) => e.name),
        ['a-one'],
      );
      assert.equal(problems[0]?.name, 'b-two');
    });
  });

  describe('secrets', () => {
    const apiKey = 'acme-live-key-0123456789';
    const hmac = 'whsec_aG1hYy1zZWNyZXQtdmFsdWUtMDEyMzQ1Njc4OQ==';
    const signing = 'whsec_c2lnbmluZy1zZWNyZXQtdmFsdWUtMDEyMzQ1Njc4OQ==';
    const outbound = 'partner-outbound-key-987';
    const input: CompileInput = {
      resources: [
        orderCreated,
        producer('acme', {
          auth: {
            apiKeys: [{ secretRef: { name: 'acme', key: 'api-key' } }],
            hmac: { secretRef: { name: 'acme', key: 'hmac' } },
          },
        }),
        subscription('partner', {
          sink: {
            uri: 'https://p.example',
            auth: { apiKey: { header: 'X-Api-Key', secretRef: { name: 'out', key: 'k' } } },
          },
          delivery: { signing: { secretRef: { name: 'sig', key: 'secret' } } },
        }),
      ],
      secrets: [
        // A trailing newline, as `echo … | base64` leaves it, is trimmed.
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'acme', namespace: NS },
          data: { 'api-key': Buffer.from(`${apiKey}\n`).toString('base64') },
          stringData: { hmac },
        },
        secret('sig', { secret: signing }),
        secret('out', { k: outbound }),
      ],
    };
    const { config, problems } = compileResources(input, { configKey });

    it('stores API keys only as sha256 hashes', () => {
      assert.deepEqual(problems, []);
      assert.deepEqual(config.producers[0]?.apiKeyHashes, [hashApiKey(apiKey)]);
      const json = JSON.stringify(config);
      for (const clear of [
        apiKey,
        Buffer.from(apiKey).toString('base64'),
        hmac,
        signing,
        outbound,
      ]) {
        assert.ok(!json.includes(clear), `clear secret in config: ${clear.slice(0, 6)}…`);
      }
    });

    it('seals secrets so that they unseal to the original', () => {
      const p = config.producers[0];
      const s = config.subscriptions[0];
      assert.equal(unsealSecret(configKey, p?.hmacSecret ?? ''), hmac);
      assert.deepEqual(
        s?.delivery.signingSecrets.map((x) => unsealSecret(configKey, x)),
        [signing],
      );
      assert.equal(unsealSecret(configKey, s?.sink.auth?.apiKey?.value ?? ''), outbound);
      assert.equal(s?.sink.auth?.apiKey?.header, 'X-Api-Key');
    });

    it('is deterministic: the same input, in any order, gives byte-identical JSON', () => {
      const again = compileResources(
        { resources: [...input.resources].reverse(), secrets: [...input.secrets].reverse() },
        { configKey },
      );
      assert.equal(JSON.stringify(again.config), JSON.stringify(config));
    });
  });

  it('carries a Producer’s JWT settings, with its pinned subject, into the config', () => {
    const jwt = {
      issuer: 'https://idp.example',
      audience: 'herald',
      jwksUri: 'https://idp.example/jwks',
      subject: 'client-a',
    };
    const { config, problems } = compile([orderCreated, producer('acme', { auth: { jwt } })]);
    assert.deepEqual(problems, []);
    assert.deepEqual(config.producers[0]?.jwt, jwt);
  });

  it('compiles a Subscription whose CESQL filters parse, and passes them through as text', () => {
    const filters = [
      { sql: "subject LIKE 'eu-%' AND myext > 2" },
      { any: [{ exact: { type: 'x' } }, { not: { sql: 'EXISTS region' } }] },
    ];
    const { config, problems } = compile([orderCreated, subscription('partner', { filters })]);
    assert.deepEqual(problems, []);
    assert.deepEqual(config.subscriptions[0]?.filters, filters);
  });
});

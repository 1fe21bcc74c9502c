import { strict as assert } from 'node:assert';
import { hashApiKey, unsealSecret } from '../../core/config/seal.js';
import type { HeraldResource, Secret } from '../../core/resources/types.js';
import {
  compileResources,
  ProblemReason,
  Severity,
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
    title: 'a CESQL filter',
    resources: [
      orderCreated,
      subscription('partner', {
        filters: [{ prefix: { source: 'https://a/' } }, { sql: "subject LIKE 'eu-%'" }],
      }),
    ],
    expect: {
      reason: ProblemReason.UnsupportedFilter,
      path: 'spec.filters[1].sql',
      message: /^CESQL \(sql\) filters are not supported yet$/,
    },
    compiled: false,
  },
  {
    title: 'a CESQL filter nested in all/not',
    resources: [
      orderCreated,
      subscription('partner', {
        filters: [{ all: [{ exact: { type: 'x' } }, { not: { sql: 'true' } }] }],
      }),
    ],
    expect: { reason: ProblemReason.UnsupportedFilter, path: 'spec.filters[0].all[1].not.sql' },
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
        ],
        [secret('c', { 'api-key': 'super-secret-value' })],
      );
      assert.equal(problems.length, 1);
      assert.doesNotMatch(JSON.stringify(problems), /super-secret-value/);
    });
  });

  describe('secrets', () => {
    const apiKey = 'acme-live-key-0123456789';
    const hmac = 'whsec_aG1hYy1zZWNyZXQtdmFsdWU=';
    const signing = 'whsec_c2lnbmluZy1zZWNyZXQtdmFsdWU=';
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
});

/**
 * Signing secret rotation in the Subscription resource: `delivery.signing.secretRef` and
 * `secretRefs` — what the schema accepts and refuses, and what the operator compiles (each
 * secret sealed, in signature order; a missing Secret named in the problem).
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { unsealSecret } from '../../core/config/seal.js';
import type { SubscriptionSpec } from '../../core/resources/types.js';
import { validateResource } from '../../core/resources/validate.js';
import { ProblemReason } from '../../operator/compile-context.js';
import { compile, configKey, orderCreated, secret, subscription } from './fixtures.js';

type Signing = NonNullable<NonNullable<SubscriptionSpec['delivery']>['signing']>;

const newSecret = (): string => `whsec_${randomBytes(24).toString('base64')}`;
const ref = (name: string, key = 'secret') => ({ name, key });
const signed = (signing: Signing) => subscription('partner', { delivery: { signing } });

describe('Subscription delivery.signing with several secrets', () => {
  const [oldValue, newValue, thirdValue] = [newSecret(), newSecret(), newSecret()];
  const secrets = [
    secret('sig-old', { secret: oldValue }),
    secret('sig-new', { secret: newValue }),
    secret('sig-third', { secret: thirdValue }),
  ];
  const signingOf = (signing: Signing) => {
    const out = compile([orderCreated, signed(signing)], secrets);
    return {
      problems: out.problems,
      values: out.config.subscriptions[0]?.delivery.signingSecrets.map((s) =>
        unsealSecret(configKey, s),
      ),
    };
  };

  describe('compiling', () => {
    it('keeps a lone secretRef working as before', () => {
      const { problems, values } = signingOf({ secretRef: ref('sig-old') });
      assert.deepEqual(problems, []);
      assert.deepEqual(values, [oldValue]);
    });

    it('seals every secret of secretRefs, in the listed order', () => {
      const { problems, values } = signingOf({
        secretRefs: [ref('sig-new'), ref('sig-old'), ref('sig-third')],
      });
      assert.deepEqual(problems, []);
      assert.deepEqual(values, [newValue, oldValue, thirdValue]);
    });

    it('signs with secretRef first, then secretRefs, when both are set', () => {
      const { problems, values } = signingOf({
        secretRef: ref('sig-old'),
        secretRefs: [ref('sig-new')],
      });
      assert.deepEqual(problems, []);
      assert.deepEqual(values, [oldValue, newValue]);
    });

    it('signs once with a Secret key named in both secretRef and secretRefs', () => {
      const { problems, values } = signingOf({
        secretRef: ref('sig-old'),
        secretRefs: [ref('sig-new'), ref('sig-old')],
      });
      assert.deepEqual(problems, []);
      assert.deepEqual(values, [oldValue, newValue]);
    });

    it('leaves the Subscription out, naming the Secret, when one listed Secret is missing', () => {
      const out = compile(
        [orderCreated, signed({ secretRefs: [ref('sig-new'), ref('sig-gone')] })],
        secrets,
      );
      assert.equal(out.config.subscriptions.length, 0);
      assert.equal(out.problems.length, 1);
      const [problem] = out.problems;
      assert.equal(problem?.reason, ProblemReason.SecretNotFound);
      assert.equal(problem?.path, 'spec.delivery.signing.secretRefs[1]');
      assert.match(problem?.message ?? '', /Secret "shop\/sig-gone" not found/);
    });

    it('names the key when a listed Secret lacks it', () => {
      const out = compile(
        [orderCreated, signed({ secretRef: ref('sig-old'), secretRefs: [ref('sig-new', 'v2')] })],
        secrets,
      );
      assert.equal(out.config.subscriptions.length, 0);
      assert.equal(out.problems[0]?.path, 'spec.delivery.signing.secretRefs[0]');
      assert.match(out.problems[0]?.message ?? '', /Secret "shop\/sig-new" has no key "v2"/);
    });

    it('refuses a listed secret that is not whsec_ + base64, without its value', () => {
      const out = compile(
        [orderCreated, signed({ secretRefs: [ref('sig-old'), ref('plain')] })],
        [...secrets, secret('plain', { secret: 'hunter2-not-a-signing-secret' })],
      );
      assert.equal(out.config.subscriptions.length, 0);
      assert.equal(out.problems[0]?.reason, ProblemReason.InvalidValue);
      assert.equal(out.problems[0]?.path, 'spec.delivery.signing.secretRefs[1]');
      assert.ok(!out.problems[0]?.message.includes('hunter2'));
    });

    it('refuses a signing block that names no secret', () => {
      for (const signing of [{}, { secretRefs: [] }]) {
        const out = compile([orderCreated, signed(signing)], secrets);
        assert.equal(out.config.subscriptions.length, 0, JSON.stringify(signing));
        assert.equal(out.problems[0]?.reason, ProblemReason.InvalidValue);
        assert.equal(out.problems[0]?.path, 'spec.delivery.signing');
        assert.match(out.problems[0]?.message ?? '', /names no secret/);
      }
    });

    it('refuses more than five secrets in all', () => {
      const many = ['a', 'b', 'c', 'd', 'e'].map((k) => ref('sig-old', k));
      const out = compile(
        [orderCreated, signed({ secretRef: ref('sig-new'), secretRefs: many })],
        secrets,
      );
      assert.equal(out.config.subscriptions.length, 0);
      assert.match(out.problems[0]?.message ?? '', /6 secrets; at most 5/);
    });
  });

  describe('the schema (what kubectl apply and herald run accept)', () => {
    const errorsOf = (signing: unknown) => {
      const resource = signed(signing as Signing);
      const result = validateResource(resource);
      return result.ok ? [] : result.errors;
    };

    it('accepts secretRef, secretRefs, or both', () => {
      assert.deepEqual(errorsOf({ secretRef: ref('a') }), []);
      assert.deepEqual(errorsOf({ secretRefs: [ref('a'), ref('b')] }), []);
      assert.deepEqual(errorsOf({ secretRef: ref('a'), secretRefs: [ref('b'), ref('c')] }), []);
      const five = ['a', 'b', 'c', 'd'].map((n) => ref(n));
      assert.deepEqual(errorsOf({ secretRef: ref('e'), secretRefs: five }), []);
    });

    const refused: [string, unknown, string, RegExp][] = [
      [
        'an empty signing block',
        {},
        'spec.delivery.signing',
        /at least one of: secretRef, secretRefs/,
      ],
      ['an empty secretRefs', { secretRefs: [] }, 'spec.delivery.signing.secretRefs', /at least 1/],
      [
        'six secretRefs',
        { secretRefs: ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => ref(n)) },
        'spec.delivery.signing.secretRefs',
        /at most 5/,
      ],
      [
        'secretRef and five secretRefs (CEL twin)',
        { secretRef: ref('x'), secretRefs: ['a', 'b', 'c', 'd', 'e'].map((n) => ref(n)) },
        'spec.delivery.signing.secretRefs',
        /at most 5 secrets in all/,
      ],
      [
        'the same Secret key twice in secretRefs',
        { secretRefs: [ref('a'), ref('a')] },
        'spec.delivery.signing.secretRefs',
        /duplicates/,
      ],
      [
        'a secretRefs entry without key',
        { secretRefs: [{ name: 'a' }] },
        'spec.delivery.signing.secretRefs[0].key',
        /required/,
      ],
    ];
    for (const [title, signing, path, message] of refused) {
      it(`refuses ${title}`, () => {
        const errors = errorsOf(signing);
        const match = errors.find((e) => e.path === path);
        assert.ok(match, `no error at ${path}: ${JSON.stringify(errors)}`);
        assert.match(match.message, message);
      });
    }
  });
});

/**
 * `sink.auth.oauth2` in the Subscription resource: clientAuthentication (basic, post,
 * privateKeyJwt), the private key and its certificate, and the extra token-request parameters —
 * what the operator compiles, what it refuses (the Subscription left out, the field and the
 * reason named, no secret shown), and what the schema refuses before that.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unsealSecret } from '../../core/config/seal.js';
import type { OAuth2ClientCredentials } from '../../core/resources/types.js';
import { validateResource } from '../../core/resources/validate.js';
import { ProblemReason } from '../../operator/compile-context.js';
import { thumbprintsOf } from '../dispatcher/token-endpoint.js';
import { compile, configKey, orderCreated, secret, subscription } from './fixtures.js';

const FIXTURES = join(import.meta.dirname, '..', 'dispatcher', 'fixtures');
const EC_KEY = readFileSync(join(FIXTURES, 'sink-test-key.pem'), 'utf8');
const EC_CERT = readFileSync(join(FIXTURES, 'sink-test-cert.pem'), 'utf8');
const RSA_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const WEAK_RSA_KEY = generateKeyPairSync('rsa', { modulusLength: 1024 })
  .privateKey.export({ type: 'pkcs1', format: 'pem' })
  .toString();

const ref = (name: string, key: string) => ({ name, key });
const base: OAuth2ClientCredentials = {
  tokenUrl: 'https://idp.example/oauth/token',
  clientId: 'herald',
  clientSecretRef: ref('idp', 'client-secret'),
};
const secrets = [
  secret('idp', { 'client-secret': 's3cret-value' }),
  secret('idp-key', { 'tls.key': EC_KEY, 'tls.crt': EC_CERT, rsa: RSA_KEY, weak: WEAK_RSA_KEY }),
];
const withOAuth2 = (oauth2: Partial<OAuth2ClientCredentials>) =>
  subscription('partner', {
    sink: { uri: 'https://partner.example/hook', auth: { oauth2: { ...base, ...oauth2 } } },
  });
const privateKeyJwt = (privateKey: OAuth2ClientCredentials['privateKey']) =>
  withOAuth2({ clientAuthentication: 'privateKeyJwt', clientSecretRef: undefined, privateKey });

function compileOAuth2(oauth2: Partial<OAuth2ClientCredentials>) {
  const out = compile([orderCreated, withOAuth2(oauth2)], secrets);
  return { problems: out.problems, compiled: out.config.subscriptions[0]?.sink.auth?.oauth2 };
}

describe('Subscription sink.auth.oauth2', () => {
  describe('compiling', () => {
    it('defaults to basic with the client secret sealed and no parameters', () => {
      const { problems, compiled } = compileOAuth2({});
      assert.deepEqual(problems, []);
      assert.equal(compiled?.clientAuthentication, 'basic');
      assert.equal(unsealSecret(configKey, compiled?.clientSecret ?? ''), 's3cret-value');
      assert.equal(compiled?.parameters, undefined);
      assert.equal(compiled?.privateKey, undefined);
    });

    it('compiles post and the parameters as written', () => {
      const parameters = { audience: 'https://api.example/', resource: 'urn:orders' };
      const { problems, compiled } = compileOAuth2({ clientAuthentication: 'post', parameters });
      assert.deepEqual(problems, []);
      assert.equal(compiled?.clientAuthentication, 'post');
      assert.deepEqual(compiled?.parameters, parameters);
    });

    const reserved: [string, RegExp][] = [
      ['grant_type', /always client_credentials/],
      ['client_id', /comes from clientId/],
      ['client_secret', /comes from clientSecretRef/],
      ['scope', /list scopes under scopes/],
      ['client_assertion', /privateKeyJwt/],
      ['client_assertion_type', /privateKeyJwt/],
    ];
    for (const [name, hint] of reserved) {
      it(`refuses the parameter ${name}, which Herald sets itself`, () => {
        const { problems, compiled } = compileOAuth2({
          parameters: { audience: 'api', [name]: 'x' },
        });
        assert.equal(compiled, undefined, 'the Subscription is left out (not Ready)');
        assert.equal(problems.length, 1);
        assert.equal(problems[0]?.reason, ProblemReason.InvalidValue);
        assert.equal(problems[0]?.path, `spec.sink.auth.oauth2.parameters.${name}`);
        assert.match(problems[0]?.message ?? '', new RegExp(`must not set "${name}"`));
        assert.match(problems[0]?.message ?? '', hint);
      });
    }

    it('refuses a parameter name outside RFC 6749’s characters, and too many parameters', () => {
      const badName = compileOAuth2({ parameters: { 'aud ience': 'x' } });
      assert.equal(badName.compiled, undefined);
      assert.match(badName.problems[0]?.message ?? '', /"aud ience" is not a parameter name/);
      const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, 'v']));
      const tooMany = compileOAuth2({ parameters: many });
      assert.equal(tooMany.compiled, undefined);
      assert.match(tooMany.problems[0]?.message ?? '', /17 token-request parameters; at most 16/);
    });

    it('refuses basic or post without clientSecretRef', () => {
      const { problems, compiled } = compileOAuth2({
        clientAuthentication: 'post',
        clientSecretRef: undefined,
      });
      assert.equal(compiled, undefined);
      assert.equal(problems[0]?.path, 'spec.sink.auth.oauth2.clientSecretRef');
      assert.match(problems[0]?.message ?? '', /post needs clientSecretRef/);
    });

    it('compiles privateKeyJwt: the key sealed, its algorithm, kid, audience and thumbprints', () => {
      const out = compile(
        [
          orderCreated,
          privateKeyJwt({
            secretRef: ref('idp-key', 'tls.key'),
            certificateRef: ref('idp-key', 'tls.crt'),
            keyId: 'k-2025',
            assertionAudience: 'https://tenant.example.auth0.com/',
          }),
        ],
        secrets,
      );
      assert.deepEqual(out.problems, []);
      const compiled = out.config.subscriptions[0]?.sink.auth?.oauth2;
      assert.equal(compiled?.clientAuthentication, 'privateKeyJwt');
      assert.equal(compiled?.clientSecret, undefined);
      const { key, ...rest } = compiled?.privateKey ?? { key: '' };
      assert.equal(unsealSecret(configKey, key), EC_KEY.trim());
      assert.deepEqual(rest, {
        algorithm: 'ES256',
        keyId: 'k-2025',
        audience: 'https://tenant.example.auth0.com/',
        ...thumbprintsOf(new X509Certificate(EC_CERT)),
      });
      const rsa = compile(
        [orderCreated, privateKeyJwt({ secretRef: ref('idp-key', 'rsa') })],
        secrets,
      );
      assert.deepEqual(rsa.problems, []);
      assert.equal(rsa.config.subscriptions[0]?.sink.auth?.oauth2?.privateKey?.algorithm, 'RS256');
    });

    const badKeys: [string, OAuth2ClientCredentials['privateKey'], string, RegExp][] = [
      [
        'a key that is not PEM',
        { secretRef: ref('idp', 'client-secret') },
        'privateKey.secretRef',
        /Secret "shop\/idp" key "client-secret": not an unencrypted PEM private key/,
      ],
      [
        'an RSA key under 2048 bits',
        { secretRef: ref('idp-key', 'weak') },
        'privateKey.secretRef',
        /an RSA key of 1024 bits; at least 2048/,
      ],
      [
        'an algorithm that does not fit the key',
        { secretRef: ref('idp-key', 'tls.key'), algorithm: 'RS256' },
        'privateKey.algorithm',
        /algorithm RS256 does not fit the key in Secret "shop\/idp-key" key "tls.key", which signs ES256/,
      ],
      [
        'a certificate of another key',
        { secretRef: ref('idp-key', 'rsa'), certificateRef: ref('idp-key', 'tls.crt') },
        'privateKey.certificateRef',
        /key "tls.crt": a certificate of another key/,
      ],
      [
        'a certificate that is not PEM',
        { secretRef: ref('idp-key', 'tls.key'), certificateRef: ref('idp-key', 'rsa') },
        'privateKey.certificateRef',
        /not a PEM certificate/,
      ],
    ];
    for (const [title, privateKey, path, message] of badKeys) {
      it(`refuses ${title}, without showing the key`, () => {
        const out = compile([orderCreated, privateKeyJwt(privateKey)], secrets);
        assert.equal(out.config.subscriptions.length, 0);
        assert.equal(out.problems[0]?.reason, ProblemReason.InvalidValue);
        assert.equal(out.problems[0]?.path, `spec.sink.auth.oauth2.${path}`);
        assert.match(out.problems[0]?.message ?? '', message);
        assert.ok(!JSON.stringify(out.problems).includes('PRIVATE KEY'));
        assert.ok(!JSON.stringify(out.problems).includes('s3cret-value'));
      });
    }

    it('names a missing key Secret, and refuses privateKeyJwt without privateKey', () => {
      const missing = compile(
        [orderCreated, privateKeyJwt({ secretRef: ref('gone', 'k') })],
        secrets,
      );
      assert.equal(missing.problems[0]?.reason, ProblemReason.SecretNotFound);
      assert.equal(missing.problems[0]?.path, 'spec.sink.auth.oauth2.privateKey.secretRef');
      const none = compile([orderCreated, privateKeyJwt(undefined)], secrets);
      assert.equal(none.problems[0]?.path, 'spec.sink.auth.oauth2.privateKey');
      assert.match(none.problems[0]?.message ?? '', /privateKeyJwt needs privateKey/);
    });
  });

  describe('the schema (what kubectl apply and herald run accept)', () => {
    const errorsOf = (oauth2: Partial<OAuth2ClientCredentials>) => {
      const result = validateResource(withOAuth2(oauth2));
      return result.ok ? [] : result.errors;
    };

    it('accepts each client authentication with what it needs', () => {
      assert.deepEqual(errorsOf({ parameters: { audience: 'https://api.example/' } }), []);
      assert.deepEqual(errorsOf({ clientAuthentication: 'post' }), []);
      const jwt = {
        clientAuthentication: 'privateKeyJwt' as const,
        clientSecretRef: undefined,
        privateKey: { secretRef: ref('k', 'tls.key'), algorithm: 'ES256' as const, keyId: 'k1' },
      };
      assert.deepEqual(errorsOf(jwt), []);
    });

    const refused: [string, Partial<OAuth2ClientCredentials>, string, RegExp][] = [
      [
        'a reserved parameter (CEL twin)',
        { parameters: { audience: 'a', client_secret: 'x' } },
        'spec.sink.auth.oauth2.parameters',
        /must not set grant_type, client_id, client_secret, scope/,
      ],
      [
        'more than 16 parameters',
        { parameters: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${i}`, 'v'])) },
        'spec.sink.auth.oauth2.parameters',
        /more than 16 properties/,
      ],
      [
        'an unknown clientAuthentication',
        { clientAuthentication: 'tls_client_auth' as 'basic' },
        'spec.sink.auth.oauth2.clientAuthentication',
        /basic, post, privateKeyJwt/,
      ],
      [
        'basic without clientSecretRef (CEL twin)',
        { clientSecretRef: undefined },
        'spec.sink.auth.oauth2.clientSecretRef',
        /clientSecretRef is required with clientAuthentication basic/,
      ],
      [
        'privateKeyJwt without a privateKey (CEL twin)',
        { clientAuthentication: 'privateKeyJwt' },
        'spec.sink.auth.oauth2.privateKey',
        /privateKey is required with clientAuthentication privateKeyJwt/,
      ],
      [
        'a privateKey with basic (CEL twin)',
        { privateKey: { secretRef: ref('k', 'tls.key') } },
        'spec.sink.auth.oauth2.privateKey',
        /not used otherwise/,
      ],
    ];
    for (const [title, oauth2, path, message] of refused) {
      it(`refuses ${title}`, () => {
        const errors = errorsOf(oauth2);
        const match = errors.find((e) => e.path === path);
        assert.ok(match, `no error at ${path}: ${JSON.stringify(errors)}`);
        assert.match(match.message, message);
      });
    }
  });
});

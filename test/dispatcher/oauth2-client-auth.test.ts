/**
 * How the dispatcher authenticates to an OAuth 2.0 token endpoint (`clientAuthentication`:
 * basic, post, privateKeyJwt) and the extra token-request `parameters`, against a local token
 * endpoint over the dispatcher's SinkClients. The endpoint decodes and checks what it gets the
 * way an identity provider does, independently of the code that builds the request.
 */
import { strict as assert } from 'node:assert';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  X509Certificate,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readAssertionKey } from '../../core/oauth2-client-assertion.js';
import { SinkClients } from '../../dispatcher/deliver.js';
import {
  OAuth2Credentials,
  OAuth2TokenCache,
  OAuth2TokenError,
  type OAuth2CredentialsOptions,
} from '../../dispatcher/oauth2.js';
import { createCapturingLogger } from './support.js';
import {
  issueTokensForAssertions,
  issueTokensTo,
  startTokenEndpoint,
  thumbprintsOf,
  type CheckedAssertion,
  type TokenEndpoint,
  type TokenResponder,
} from './token-endpoint.js';

const TIMEOUT_MS = 5_000;
// Characters that form-urlencoding changes (space, +, :, %, &, =, /, @, non-ASCII).
const ODD_ID = 'partner:eu id+1/ü';
const ODD_SECRET = 'p@ss w:rd%&=+/ü€';
const FIXTURES = join(import.meta.dirname, 'fixtures');

describe('oauth2 client authentication and token-request parameters', () => {
  const sinks = new SinkClients({ policy: { allowPrivateSinks: true } }); // endpoint on 127.0.0.1
  const endpoints: TokenEndpoint[] = [];

  after(() => sinks.close());
  afterEach(async () => {
    await Promise.all(endpoints.splice(0).map((e) => e.stop()));
  });

  async function endpointWith(respond: TokenResponder): Promise<TokenEndpoint> {
    const endpoint = await startTokenEndpoint(respond);
    endpoints.push(endpoint);
    return endpoint;
  }

  const newCache = (logger = createCapturingLogger().logger) =>
    new OAuth2TokenCache((url, request, ms) => sinks.postForm(url, request, ms), { logger });

  const credentials = (endpoint: TokenEndpoint, options: Partial<OAuth2CredentialsOptions> = {}) =>
    new OAuth2Credentials({
      tokenUrl: new URL(endpoint.url),
      clientId: 'herald',
      clientSecret: 's3cret',
      scopes: [],
      userAgent: 'Herald/test',
      ...options,
    });

  describe('basic (client_secret_basic, the default)', () => {
    it('form-urlencodes id and secret before base64 (RFC 6749 §2.3.1)', async () => {
      const endpoint = await endpointWith(issueTokensTo(ODD_ID, ODD_SECRET, 'basic'));
      const creds = credentials(endpoint, { clientId: ODD_ID, clientSecret: ODD_SECRET });
      assert.equal(await newCache().token(creds, TIMEOUT_MS), 'tok-1');
      const [req] = endpoint.requests;
      // Worked out by hand: each part form-encoded (space as +), then joined by ':'.
      const expected = 'partner%3Aeu+id%2B1%2F%C3%BC:p%40ss+w%3Ard%25%26%3D%2B%2F%C3%BC%E2%82%AC';
      assert.equal(req?.headers.authorization, `Basic ${Buffer.from(expected).toString('base64')}`);
      assert.equal(req?.form.has('client_secret'), false, 'the secret is not in the body');
      assert.equal(req?.form.has('client_id'), false);
    });
  });

  describe('post (client_secret_post)', () => {
    it('sends client_id and client_secret in the form and no Authorization header', async () => {
      const endpoint = await endpointWith(issueTokensTo(ODD_ID, ODD_SECRET, 'post'));
      const creds = credentials(endpoint, {
        clientId: ODD_ID,
        clientSecret: ODD_SECRET,
        clientAuthentication: 'post',
        scopes: ['orders:write'],
      });
      assert.equal(await newCache().token(creds, TIMEOUT_MS), 'tok-1');
      const [req] = endpoint.requests;
      assert.ok(req);
      assert.equal(req.headers.authorization, undefined);
      assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.equal(req.form.get('grant_type'), 'client_credentials');
      assert.equal(req.form.get('scope'), 'orders:write');
      assert.equal(req.form.get('client_id'), ODD_ID, 'decodes back to the exact id');
      assert.equal(req.form.get('client_secret'), ODD_SECRET, 'and the exact secret');
    });

    it('keeps the secret out of errors and logs when the endpoint echoes the form', async () => {
      const secret = 'post-secret do-not-log+1';
      const endpoint = await endpointWith((req) => ({
        status: 400,
        body: {
          error: 'invalid_client',
          // Some endpoints echo the request: raw and form-encoded.
          error_description: `bad client ${req.form.get('client_secret')} in ${req.form.toString()}`,
        },
      }));
      const { logger, lines } = createCapturingLogger();
      const creds = credentials(endpoint, { clientSecret: secret, clientAuthentication: 'post' });
      const err = await newCache(logger)
        .token(creds, TIMEOUT_MS)
        .then(() => assert.fail('expected a token error'))
        .catch((e: unknown) => e);
      assert.ok(err instanceof OAuth2TokenError);
      assert.match(err.message, /answered HTTP 400: invalid_client \(bad client \[redacted\] in/);
      const shown = `${err.message} ${JSON.stringify(lines)} ${JSON.stringify(creds)}`;
      assert.ok(!shown.includes(secret), 'not the raw secret');
      assert.ok(!shown.includes('post-secret+do-not-log%2B1'), 'nor its form encoding');
      assert.ok(lines.some((l) => String(l.msg).startsWith('oauth2 token request refused')));
    });
  });

  describe('parameters', () => {
    it('sends each parameter in the token request', async () => {
      const endpoint = await endpointWith(issueTokensTo('herald', 's3cret'));
      const creds = credentials(endpoint, {
        scopes: ['a'],
        parameters: { audience: 'https://api.example/', resource: 'urn:partner:orders x' },
      });
      await newCache().token(creds, TIMEOUT_MS);
      const form = endpoint.requests[0]?.form;
      assert.deepEqual([...(form?.keys() ?? [])], ['grant_type', 'scope', 'audience', 'resource']);
      assert.equal(form?.get('audience'), 'https://api.example/');
      assert.equal(form?.get('resource'), 'urn:partner:orders x');
    });

    it('does not share a token between clients asking for different audiences', async () => {
      const endpoint = await endpointWith((req, i) => ({
        body: {
          access_token: `tok-${i + 1}-for-${req.form.get('audience')}`,
          token_type: 'Bearer',
        },
      }));
      const cache = newCache();
      const orders = credentials(endpoint, { parameters: { audience: 'orders' } });
      const billing = credentials(endpoint, { parameters: { audience: 'billing' } });
      assert.equal(await cache.token(orders, TIMEOUT_MS), 'tok-1-for-orders');
      assert.equal(await cache.token(billing, TIMEOUT_MS), 'tok-2-for-billing');
      assert.equal(await cache.token(orders, TIMEOUT_MS), 'tok-1-for-orders', 'each cached');
      assert.equal(endpoint.requests.length, 2);
    });
  });

  describe('privateKeyJwt (RFC 7523 client assertion)', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ecPem = readFileSync(join(FIXTURES, 'sink-test-key.pem'), 'utf8');
    const ecCert = new X509Certificate(readFileSync(join(FIXTURES, 'sink-test-cert.pem')));

    it('signs a fresh RS256 assertion for every token request, with no secret', async () => {
      const checked: CheckedAssertion[] = [];
      const endpoint = await endpointWith(
        issueTokensForAssertions({ clientId: 'herald', publicKey: rsa.publicKey, checked }),
      );
      const pem = rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
      const creds = credentials(endpoint, {
        clientAuthentication: 'privateKeyJwt',
        privateKey: { key: readAssertionKey(pem), keyId: 'herald-2025' },
        parameters: { audience: 'orders' },
      });
      const cache = newCache();
      assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-1');
      // A second request (after a 401 from the sink) needs a new assertion: jti is single-use.
      assert.equal(await cache.refresh(creds, 'tok-1', TIMEOUT_MS), 'tok-2');

      const [req] = endpoint.requests;
      assert.ok(req);
      assert.equal(req.headers.authorization, undefined);
      assert.equal(req.form.has('client_secret'), false);
      assert.equal(req.form.get('client_id'), 'herald');
      assert.equal(req.form.get('audience'), 'orders');
      assert.equal(checked.length, 2, 'both assertions accepted');
      const [first, second] = checked;
      assert.deepEqual(first?.header, { alg: 'RS256', typ: 'JWT', kid: 'herald-2025' });
      assert.equal(first?.claims.aud, endpoint.url, 'aud: the token endpoint by default');
      assert.equal(first?.claims.nbf, first?.claims.iat);
      assert.equal(Number(first?.claims.exp) - Number(first?.claims.iat), 120);
      assert.notEqual(first?.claims.jti, second?.claims.jti);
    });

    it('signs ES256 with the certificate thumbprints and another audience', async () => {
      const checked: CheckedAssertion[] = [];
      const audience = 'https://tenant.example.auth0.com/';
      const endpoint = await endpointWith(
        issueTokensForAssertions({
          clientId: 'herald',
          publicKey: createPublicKey(createPrivateKey(ecPem)),
          audience,
          checked,
        }),
      );
      const creds = credentials(endpoint, {
        clientAuthentication: 'privateKeyJwt',
        privateKey: { key: readAssertionKey(ecPem), thumbprints: thumbprintsOf(ecCert), audience },
      });
      assert.equal(await newCache().token(creds, TIMEOUT_MS), 'tok-1');
      const { x5t, x5tS256 } = thumbprintsOf(ecCert);
      assert.deepEqual(checked[0]?.header, { alg: 'ES256', typ: 'JWT', x5t, 'x5t#S256': x5tS256 });
      assert.equal(checked[0]?.claims.aud, audience);
    });

    it('keeps the assertion out of errors and logs when the endpoint echoes it', async () => {
      const endpoint = await endpointWith((req) => ({
        status: 401,
        body: {
          error: 'invalid_client',
          error_description: `bad ${req.form.get('client_assertion')}`,
        },
      }));
      const { logger, lines } = createCapturingLogger();
      const creds = credentials(endpoint, {
        clientAuthentication: 'privateKeyJwt',
        privateKey: { key: readAssertionKey(ecPem) },
      });
      const err = await newCache(logger)
        .token(creds, TIMEOUT_MS)
        .catch((e: unknown) => e);
      assert.ok(err instanceof OAuth2TokenError);
      assert.match(err.message, /HTTP 401: invalid_client \(bad \[redacted\]\)/);
      const assertion = endpoint.requests[0]?.form.get('client_assertion') ?? '';
      assert.ok(assertion.length > 0);
      assert.ok(!`${err.message}${JSON.stringify(lines)}`.includes(assertion.split('.')[2] ?? '-'));
      assert.ok(!JSON.stringify(creds).includes('PRIVATE KEY'));
    });
  });
});

/**
 * The OAuth 2.0 client-credentials token source on its own, against a local token endpoint
 * over the dispatcher's SinkClients (so through the SSRF guard): the request it sends, how
 * long it keeps a token (a controllable clock), single flight, and the errors it reports.
 */
import { strict as assert } from 'node:assert';
import { SinkClients } from '../../dispatcher/deliver.js';
import {
  DEFAULT_TOKEN_LIFETIME_MS,
  OAuth2Credentials,
  OAuth2ErrorCode,
  OAuth2TokenCache,
  OAuth2TokenError,
} from '../../dispatcher/oauth2.js';
import { AttemptFailure } from '../../dispatcher/retry.js';
import { createCapturingLogger } from './support.js';
import {
  issueTokensTo,
  startTokenEndpoint,
  type TokenEndpoint,
  type TokenResponder,
} from './token-endpoint.js';

const TIMEOUT_MS = 5_000;

describe('oauth2 client credentials: the token source', () => {
  const sinks = new SinkClients({ policy: { allowPrivateSinks: true } }); // endpoint on 127.0.0.1
  const endpoints: TokenEndpoint[] = [];
  let clock = 1_700_000_000_000;

  after(() => sinks.close());
  afterEach(async () => {
    await Promise.all(endpoints.splice(0).map((e) => e.stop()));
  });

  async function endpointWith(respond: TokenResponder): Promise<TokenEndpoint> {
    const endpoint = await startTokenEndpoint(respond);
    endpoints.push(endpoint);
    return endpoint;
  }

  function newCache(logger = createCapturingLogger().logger): OAuth2TokenCache {
    return new OAuth2TokenCache((url, request, ms) => sinks.postForm(url, request, ms), {
      logger,
      now: () => clock,
    });
  }

  const credentials = (
    endpoint: TokenEndpoint,
    clientId = 'herald',
    clientSecret = 's3cret',
    scopes: string[] = [],
  ) =>
    new OAuth2Credentials({
      tokenUrl: new URL(endpoint.url),
      clientId,
      clientSecret,
      scopes,
      userAgent: 'Herald/test',
    });

  it('POSTs grant_type=client_credentials with the scopes, authenticating with HTTP Basic', async () => {
    // Characters that form-urlencoding changes (space, +, :, %, &, =, /, non-ASCII): a server
    // decoding per RFC 6749 §2.3.1 must get back exactly these.
    const clientId = 'partner:eu id+1/ü';
    const clientSecret = 'p@ss w:rd%&=+/ü€';
    const endpoint = await endpointWith(issueTokensTo(clientId, clientSecret));
    const creds = credentials(endpoint, clientId, clientSecret, ['orders:write', 'audit.read']);
    assert.equal(await newCache().token(creds, TIMEOUT_MS), 'tok-1');

    const [req] = endpoint.requests;
    assert.ok(req);
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/oauth/token');
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(req.headers.accept, 'application/json');
    assert.equal(req.headers['user-agent'], 'Herald/test');
    assert.equal(req.clientId, clientId);
    assert.equal(req.clientSecret, clientSecret);
    assert.deepEqual([...req.form.keys()].sort(), ['grant_type', 'scope']);
    assert.equal(req.form.get('grant_type'), 'client_credentials');
    assert.equal(req.form.get('scope'), 'orders:write audit.read');
    // The colon inside the client id is encoded, so the first ':' separates id and secret.
    const raw = Buffer.from(String(req.headers.authorization).slice(6), 'base64').toString();
    assert.equal(raw.split(':').length, 2);
  });

  it('sends no scope parameter when no scopes are set', async () => {
    const endpoint = await endpointWith(issueTokensTo('herald', 's3cret'));
    await newCache().token(credentials(endpoint), TIMEOUT_MS);
    assert.equal(endpoint.requests[0]?.form.toString(), 'grant_type=client_credentials');
  });

  it('keeps a token until 30 s before expires_in, then fetches a new one', async () => {
    const endpoint = await endpointWith(issueTokensTo('herald', 's3cret'));
    const cache = newCache();
    const creds = credentials(endpoint);
    const start = clock;
    assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-1');
    clock = start + 3_569_000;
    assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-1');
    clock = start + 3_571_000;
    assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-2');
    assert.equal(endpoint.requests.length, 2);
  });

  it('refreshes a short-lived token at half its life, and one without expires_in after the default', async () => {
    const lifetimes = [20, undefined];
    const endpoint = await endpointWith((_req, i) => ({
      body: { access_token: `tok-${i + 1}`, token_type: 'bearer', expires_in: lifetimes[i] },
    }));
    const cache = newCache();
    const creds = credentials(endpoint);
    const start = clock;
    await cache.token(creds, TIMEOUT_MS);
    clock = start + 9_000;
    assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-1');
    clock = start + 10_500;
    assert.equal(
      await cache.token(creds, TIMEOUT_MS),
      'tok-2',
      'expires_in 20 → refreshed at 10 s',
    );
    const second = clock;
    clock = second + DEFAULT_TOKEN_LIFETIME_MS - 31_000;
    assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-2');
    clock = second + DEFAULT_TOKEN_LIFETIME_MS;
    assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-3');
  });

  it('makes one token request for many callers at once (single flight)', async () => {
    const endpoint = await endpointWith((_req, i) => ({
      body: { access_token: `tok-${i + 1}`, token_type: 'Bearer', expires_in: 600 },
      delayMs: 100,
    }));
    const cache = newCache();
    const creds = credentials(endpoint);
    const tokens = await Promise.all(
      Array.from({ length: 20 }, () => cache.token(creds, TIMEOUT_MS)),
    );
    assert.deepEqual(new Set(tokens), new Set(['tok-1']));
    assert.equal(endpoint.requests.length, 1);
  });

  it('after a 401, fetches one fresh token however many deliveries report the rejected one', async () => {
    const endpoint = await endpointWith((_req, i) => ({
      body: { access_token: `tok-${i + 1}`, token_type: 'Bearer', expires_in: 600 },
      delayMs: 50,
    }));
    const cache = newCache();
    const creds = credentials(endpoint);
    assert.equal(await cache.token(creds, TIMEOUT_MS), 'tok-1');
    const fresh = await Promise.all(
      Array.from({ length: 8 }, () => cache.refresh(creds, 'tok-1', TIMEOUT_MS)),
    );
    assert.deepEqual(new Set(fresh), new Set(['tok-2']));
    // A late report of the old token finds the fresh one in the cache.
    assert.equal(await cache.refresh(creds, 'tok-1', TIMEOUT_MS), 'tok-2');
    assert.equal(endpoint.requests.length, 2);
  });

  it('does not share a token between clients that differ only in their secret', async () => {
    const endpoint = await endpointWith((req, i) => ({
      body: { access_token: `tok-${i + 1}-${req.clientSecret}`, token_type: 'Bearer' },
    }));
    const cache = newCache();
    const a = await cache.token(credentials(endpoint, 'herald', 'right'), TIMEOUT_MS);
    const b = await cache.token(credentials(endpoint, 'herald', 'wrong'), TIMEOUT_MS);
    assert.notEqual(a, b);
    assert.equal(endpoint.requests.length, 2);
  });

  it('reports a refused token request with the endpoint’s error, never the secret', async () => {
    const secret = 'very-secret-value';
    const endpoint = await endpointWith(() => ({
      status: 400,
      body: {
        error: 'invalid_client',
        error_description: `unknown client secret ${secret}\n`,
      },
    }));
    const { logger, lines } = createCapturingLogger();
    const cache = newCache(logger);
    const err = await cache
      .token(credentials(endpoint, 'herald', secret), TIMEOUT_MS)
      .then(() => assert.fail('expected a token error'))
      .catch((e: unknown) => e);
    assert.ok(err instanceof OAuth2TokenError);
    assert.equal(err.code, OAuth2ErrorCode.Refused);
    assert.equal(err.failure, AttemptFailure.Internal, 'retried, not dead-lettered at once');
    assert.match(
      err.message,
      /^oauth2 token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth\/token answered HTTP 400: invalid_client \(unknown client secret \[redacted\]\?\)$/,
    );
    const logged = lines.find((l) => String(l.msg).startsWith('oauth2 token request refused'));
    assert.ok(logged, 'a configuration error is logged');
    assert.equal(logged.level, 50, 'at error level');
    assert.equal(logged.clientId, 'herald');
    assert.ok(!JSON.stringify(lines).includes(secret));
  });

  const invalidResponses: [string, TokenResponder, RegExp][] = [
    [
      'a token_type other than Bearer',
      () => ({ body: { access_token: 't', token_type: 'mac' } }),
      /token_type "mac"; only Bearer/,
    ],
    [
      'no access_token',
      () => ({ body: { token_type: 'Bearer' } }),
      /without a usable access_token/,
    ],
    [
      'an access_token with a line break',
      () => ({ body: { access_token: 'a\r\nX-Evil: 1' } }),
      /without a usable access_token/,
    ],
    ['a body that is not JSON', () => ({ body: '<html>ok</html>' }), /not with a JSON object/],
  ];
  for (const [title, respond, message] of invalidResponses) {
    it(`refuses a 200 with ${title}`, async () => {
      const endpoint = await endpointWith(respond);
      await assert.rejects(newCache().token(credentials(endpoint), TIMEOUT_MS), (err: unknown) => {
        assert.ok(err instanceof OAuth2TokenError);
        assert.equal(err.code, OAuth2ErrorCode.InvalidResponse);
        assert.match(err.message, message);
        assert.ok(!err.message.includes('X-Evil'));
        return true;
      });
    });
  }

  it('reports an unreachable endpoint as a network failure, and a slow one as a timeout', async () => {
    const endpoint = await endpointWith(() => ({ body: {}, delayMs: 2_000 }));
    const creds = credentials(endpoint);
    await assert.rejects(newCache().token(creds, 200), (err: unknown) => {
      assert.ok(err instanceof OAuth2TokenError);
      assert.equal(err.code, OAuth2ErrorCode.Unreachable);
      assert.equal(err.failure, AttemptFailure.Timeout);
      assert.match(err.message, /no response within 200 ms/);
      return true;
    });
    await endpoint.stop();
    endpoints.splice(endpoints.indexOf(endpoint), 1);
    await assert.rejects(newCache().token(creds, TIMEOUT_MS), (err: unknown) => {
      assert.ok(err instanceof OAuth2TokenError);
      assert.equal(err.failure, AttemptFailure.Network);
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    });
  });

  it('goes through the SSRF guard: a token endpoint on a refused address is never called', async () => {
    const endpoint = await endpointWith(issueTokensTo('herald', 's3cret'));
    const guarded = new SinkClients(); // the cluster default: loopback refused
    const cache = new OAuth2TokenCache((url, request, ms) => guarded.postForm(url, request, ms));
    await assert.rejects(cache.token(credentials(endpoint), TIMEOUT_MS), (err: unknown) => {
      assert.ok(err instanceof OAuth2TokenError);
      assert.equal(err.failure, AttemptFailure.ForbiddenAddress);
      assert.match(err.message, /loopback/);
      return true;
    });
    assert.equal(endpoint.requests.length, 0);
    await guarded.close();
  });

  it('never shows the secret when credentials are logged', () => {
    const creds = new OAuth2Credentials({
      tokenUrl: new URL('https://idp.example/token?tenant=x'),
      clientId: 'herald',
      clientSecret: 'hunter2',
      scopes: ['a'],
      userAgent: 'Herald/test',
    });
    const shown = JSON.stringify(creds);
    assert.ok(!shown.includes('hunter2'));
    assert.ok(!shown.includes('tenant=x'), 'the query is left out');
    assert.match(shown, /https:\/\/idp\.example\/token/);
  });
});

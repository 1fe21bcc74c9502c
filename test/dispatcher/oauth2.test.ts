/**
 * `sink.auth.oauth2` end to end: a real nats-server, the dispatcher, a local token endpoint
 * and a sink that checks the bearer token. One token serves many deliveries; an expired one is
 * replaced; a 401 from the sink costs one fresh token and one retry; a wrong client secret is
 * retried (and visible in the logs without the secret), not dead-lettered at once. The
 * client_secret_post and private_key_jwt variants and extra parameters, from the compiled config.
 */
import { strict as assert } from 'node:assert';
import { generateKeyPairSync } from 'node:crypto';
import type { Msg } from '@nats-io/transport-node';
import type { CompiledOAuth2, CompiledSubscription } from '../../core/config/model.js';
import { sealSecret } from '../../core/config/seal.js';
import { createSilentLogger, type Logger } from '../../core/logging.js';
import { dlqSubjectFor } from '../../core/topology.js';
import { startDispatcher, type RunningDispatcher } from '../../dispatcher/main.js';
import {
  buildSubscription,
  createCapturingLogger,
  ensureConsumer,
  ensureEventStream,
  publishEvent,
  startHarness,
  startTestSink,
  uniqueNamespace,
  waitFor,
  waitForSettled,
  writeSubscriptions,
  type Harness,
  type SinkResponder,
} from './support.js';
import {
  issueTokensForAssertions,
  issueTokensTo,
  startTokenEndpoint,
  type TokenResponder,
} from './token-endpoint.js';

const CLIENT_ID = 'herald-dispatcher';
const CLIENT_SECRET = 'Zx9-client+secret/ü';

/** 200 for requests bearing one of `tokens`, 401 otherwise. */
const acceptTokens =
  (...tokens: string[]): SinkResponder =>
  (req) =>
    tokens.some((t) => req.headers.authorization === `Bearer ${t}`)
      ? { status: 200 }
      : { status: 401, body: 'token expired' };

describe('dispatcher oauth2 sink auth', () => {
  let h: Harness;
  let dispatcher: RunningDispatcher | undefined;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    h = await startHarness();
  });
  after(() => h.stop());
  afterEach(async () => {
    await dispatcher?.stop();
    dispatcher = undefined;
    await Promise.all(closers.splice(0).map((close) => close()));
  });

  async function setUp(
    name: string,
    options: {
      token: TokenResponder;
      sink: SinkResponder;
      clientSecret?: string;
      scopes?: string[];
      /** More of sink.auth.oauth2 (clientAuthentication, parameters, privateKey). */
      oauth2?: Partial<CompiledOAuth2>;
      delivery?: NonNullable<Parameters<typeof buildSubscription>[3]>['delivery'];
      logger?: Logger;
    },
  ) {
    const ns = uniqueNamespace();
    const endpoint = await startTokenEndpoint(options.token);
    const sink = await startTestSink(options.sink);
    closers.push(
      () => endpoint.stop(),
      () => sink.stop(),
    );
    const withSecret = (clientSecret: string): CompiledSubscription =>
      buildSubscription(ns, name, sink.url, {
        sink: {
          auth: {
            oauth2: {
              tokenUrl: endpoint.url,
              clientId: CLIENT_ID,
              clientSecret: sealSecret(h.configKey, clientSecret),
              scopes: options.scopes ?? [],
              ...options.oauth2,
            },
          },
        },
        ...(options.delivery && { delivery: options.delivery }),
      });
    const sub = withSecret(options.clientSecret ?? CLIENT_SECRET);
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const deadLetter = nextMessage(dlqSubjectFor(ns, name));
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger: options.logger ?? createSilentLogger(),
      allowPrivateSinks: true, // the sink and the token endpoint listen on 127.0.0.1
    });
    return { ns, sub, endpoint, sink, deadLetter, withSecret, dispatcher };
  }

  function nextMessage(subject: string): Promise<Msg> {
    const subscription = h.nc.subscribe(subject, { max: 1 });
    closers.push(async () => subscription.unsubscribe());
    return (async () => {
      for await (const m of subscription) return m;
      throw new Error(`no message on ${subject}`);
    })();
  }

  async function publishMany(ns: string, count: number): Promise<number> {
    let last = 0;
    for (let i = 0; i < count; i++) last = await publishEvent(h.js, ns, { id: `evt-${i}` });
    return last;
  }

  it('fetches one token (with the scopes) and sends it on every delivery', async () => {
    const { ns, sub, endpoint, sink } = await setUp('reuse', {
      token: issueTokensTo(CLIENT_ID, CLIENT_SECRET),
      sink: acceptTokens('tok-1'),
      scopes: ['orders:write', 'audit'],
    });
    const last = await publishMany(ns, 30);
    const requests = await sink.waitForRequests(30);
    await waitForSettled(h.jsm, sub, last);

    assert.equal(endpoint.requests.length, 1, 'one token for all 30 deliveries');
    const [tokenRequest] = endpoint.requests;
    assert.equal(tokenRequest?.clientId, CLIENT_ID);
    assert.equal(tokenRequest?.clientSecret, CLIENT_SECRET);
    assert.equal(tokenRequest?.form.get('grant_type'), 'client_credentials');
    assert.equal(tokenRequest?.form.get('scope'), 'orders:write audit');
    assert.deepEqual(
      new Set(requests.map((r) => r.headers.authorization)),
      new Set(['Bearer tok-1']),
    );
    assert.equal(sink.requests.length, 30, 'no delivery was retried');
  });

  it('fetches a new token once the old one expires', async function () {
    this.timeout(20_000);
    // expires_in: 1 → used for half a second (short lifetimes are refreshed at half-life).
    const { ns, sub, endpoint, sink } = await setUp('expiry', {
      token: (_req, i) => ({
        body: { access_token: `tok-${i + 1}`, token_type: 'Bearer', expires_in: 1 },
      }),
      sink: acceptTokens('tok-1', 'tok-2'),
    });
    await publishEvent(h.js, ns, { id: 'evt-before' });
    const [first] = await sink.waitForRequests(1);
    assert.equal(first?.headers.authorization, 'Bearer tok-1');
    const fetchedAt = Date.now();
    // Nothing to await but time itself: the token's expiry.
    await waitFor(() => (Date.now() - fetchedAt > 600 ? true : undefined), 'the token to expire');
    const seq = await publishEvent(h.js, ns, { id: 'evt-after' });
    const [, second] = await sink.waitForRequests(2);
    assert.equal(second?.headers.authorization, 'Bearer tok-2');
    assert.equal(endpoint.requests.length, 2);
    await waitForSettled(h.jsm, sub, seq);
  });

  it('on a 401 from the sink, fetches one fresh token and retries that attempt once', async () => {
    const {
      ns,
      sub,
      endpoint,
      sink,
      dispatcher: d,
    } = await setUp('refresh', {
      token: issueTokensTo(CLIENT_ID, CLIENT_SECRET),
      sink: acceptTokens('tok-2'), // tok-1 was revoked
    });
    const last = await publishMany(ns, 8);
    await waitForSettled(h.jsm, sub, last);

    assert.equal(endpoint.requests.length, 2, 'one fresh token, however many deliveries saw 401');
    const byEvent = new Map<string, string[]>();
    for (const r of sink.requests) {
      const id = String(r.headers['ce-id']);
      byEvent.set(id, [...(byEvent.get(id) ?? []), String(r.headers.authorization)]);
    }
    assert.equal(byEvent.size, 8);
    for (const [id, tokens] of byEvent) {
      // Either straight with the fresh token, or the old one, its 401, and one retry.
      assert.ok(
        tokens.join() === 'Bearer tok-2' || tokens.join() === 'Bearer tok-1,Bearer tok-2',
        `${id}: ${tokens.join()}`,
      );
    }
    const metrics = await d.registry.getSingleMetricAsString('herald_dispatcher_deliveries_total');
    assert.match(metrics, /outcome="delivered",status_class="2xx"} 8/);
    assert.doesNotMatch(
      metrics,
      /outcome="(retried|dead_lettered)"/,
      'the retry is in the attempt',
    );
  });

  it('retries events while the client secret is wrong, logging the endpoint’s error without the secret', async function () {
    this.timeout(30_000);
    const wrongSecret = 'wrong-secret-do-not-log';
    const { logger, lines } = createCapturingLogger();
    const { ns, sub, endpoint, sink, deadLetter, withSecret } = await setUp('wrong-secret', {
      token: issueTokensTo(CLIENT_ID, CLIENT_SECRET),
      sink: acceptTokens('tok-1'),
      clientSecret: wrongSecret,
      delivery: { retry: { maxAttempts: 3 } },
      logger,
    });
    await publishEvent(h.js, ns, { id: 'evt-refused' });
    const msg = await deadLetter;
    const dl = msg.json<Record<string, unknown>>();
    assert.equal(dl.heralderrorcode, 'attempts_exhausted', 'retried, not rejected at once');
    assert.equal(dl.heralderrorattempts, 3);
    assert.match(
      String(dl.heralderrorreason),
      /oauth2 token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth\/token answered HTTP 401: invalid_client/,
    );
    assert.equal(endpoint.requests.length, 3, 'one token request per attempt');
    assert.equal(sink.requests.length, 0, 'nothing is sent without a token');
    const refused = lines.filter((l) => String(l.msg).startsWith('oauth2 token request refused'));
    assert.equal(refused.length, 3);
    assert.equal(refused[0]?.clientId, CLIENT_ID);
    assert.match(String(refused[0]?.reason), /invalid_client \(client authentication failed\)/);
    const attempts = lines.filter((l) => /invalid_client/.test(String(l.reason)) && l.attempt);
    assert.ok(attempts.length >= 2, 'each failed attempt says why');

    // The Secret is corrected: the next event goes through.
    await writeSubscriptions(h.kv, [withSecret(CLIENT_SECRET)]);
    const seq = await publishEvent(h.js, ns, { id: 'evt-fixed' });
    const [req] = await sink.waitForRequests(1);
    assert.equal(req?.headers.authorization, 'Bearer tok-1');
    await waitForSettled(h.jsm, sub, seq);
    const logged = JSON.stringify(lines);
    assert.ok(!logged.includes(wrongSecret) && !logged.includes(CLIENT_SECRET));
    assert.ok(!logged.includes('tok-1'), 'tokens are not logged either');
  });

  it('with clientAuthentication post and parameters, retries a wrong secret without logging it', async function () {
    this.timeout(30_000);
    const wrongSecret = 'wrong post-secret+do-not-log';
    const { logger, lines } = createCapturingLogger();
    const { ns, sub, endpoint, sink, deadLetter, withSecret } = await setUp('post', {
      token: issueTokensTo(CLIENT_ID, CLIENT_SECRET, 'post'),
      sink: acceptTokens('tok-1'),
      clientSecret: wrongSecret,
      oauth2: { clientAuthentication: 'post', parameters: { audience: 'https://orders.example/' } },
      delivery: { retry: { maxAttempts: 2 } },
      logger,
    });
    await publishEvent(h.js, ns, { id: 'evt-refused' });
    const dl = (await deadLetter).json<Record<string, unknown>>();
    assert.equal(dl.heralderrorcode, 'attempts_exhausted');
    assert.match(String(dl.heralderrorreason), /answered HTTP 401: invalid_client/);
    assert.equal(sink.requests.length, 0, 'nothing is sent without a token');
    const [refused] = endpoint.requests;
    assert.equal(refused?.authMethod, 'post');
    assert.equal(refused?.headers.authorization, undefined);
    assert.equal(refused?.form.get('audience'), 'https://orders.example/');

    await writeSubscriptions(h.kv, [{ ...withSecret(CLIENT_SECRET), generation: 2 }]);
    const seq = await publishEvent(h.js, ns, { id: 'evt-fixed' });
    const [req] = await sink.waitForRequests(1);
    assert.equal(req?.headers.authorization, 'Bearer tok-1');
    await waitForSettled(h.jsm, sub, seq);
    const shown = JSON.stringify([lines, dl]);
    for (const secret of [wrongSecret, CLIENT_SECRET, 'wrong+post-secret%2Bdo-not-log']) {
      assert.ok(!shown.includes(secret), `${secret} is not logged or dead-lettered`);
    }
    assert.ok(!shown.includes('tok-1'), 'nor is the token');
  });

  it('with clientAuthentication privateKeyJwt, gets tokens with a key from the config', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const { logger, lines } = createCapturingLogger();
    const { ns, sub, endpoint, sink } = await setUp('private-key-jwt', {
      token: issueTokensForAssertions({ clientId: CLIENT_ID, publicKey }),
      sink: acceptTokens('tok-1'),
      oauth2: {
        clientAuthentication: 'privateKeyJwt',
        clientSecret: undefined,
        privateKey: { key: sealSecret(h.configKey, pem), algorithm: 'ES256', keyId: 'k1' },
      },
      logger,
    });
    const last = await publishMany(ns, 3);
    const requests = await sink.waitForRequests(3);
    await waitForSettled(h.jsm, sub, last);
    assert.equal(endpoint.requests.length, 1, 'one token for the three deliveries');
    assert.equal(endpoint.requests[0]?.authMethod, 'none', 'no secret, only the assertion');
    assert.deepEqual(
      requests.map((r) => r.headers.authorization),
      ['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-1'],
    );
    assert.ok(!JSON.stringify(lines).includes('PRIVATE KEY'));
  });
});

/**
 * The webhook validation handshake for a sink behind `sink.auth.oauth2`: the OPTIONS carries
 * the same bearer token as the deliveries (one token endpoint request for both), a 401 to it
 * costs one fresh token, and a token endpoint that refuses is reported as the handshake's
 * TokenUnavailable state — without sending the OPTIONS, and without the secret anywhere.
 */
import { strict as assert } from 'node:assert';
import { sealSecret } from '../../core/config/seal.js';
import {
  VerificationReason,
  VerificationStatus,
  type VerificationState,
} from '../../dispatcher/handshake.js';
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
  writeSubscriptions,
  type Harness,
  type RecordedRequest,
  type SinkResponder,
} from './support.js';
import { issueTokensTo, startTokenEndpoint, type TokenResponder } from './token-endpoint.js';

const CLIENT_ID = 'herald-dispatcher';
const CLIENT_SECRET = 'handshake-secret-do-not-log';
const isOptions = (r: RecordedRequest): boolean => r.method === 'OPTIONS';
const isPost = (r: RecordedRequest): boolean => r.method === 'POST';

/** Consents to OPTIONS and accepts POSTs bearing one of `tokens`; 401 otherwise. */
const consentWithTokens =
  (...tokens: string[]): SinkResponder =>
  (req) => {
    if (!tokens.some((t) => req.headers.authorization === `Bearer ${t}`)) return { status: 401 };
    return isOptions(req)
      ? { status: 200, headers: { 'webhook-allowed-origin': '*' } }
      : { status: 200 };
  };

describe('dispatcher webhook validation handshake with oauth2', function () {
  this.timeout(60_000);
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

  async function setUp(token: TokenResponder, sinkResponder: SinkResponder) {
    const endpoint = await startTokenEndpoint(token);
    const sink = await startTestSink(sinkResponder);
    closers.push(
      () => endpoint.stop(),
      () => sink.stop(),
    );
    const ns = uniqueNamespace();
    const sub = buildSubscription(ns, 'orders', sink.url, {
      sink: {
        verification: 'handshake',
        auth: {
          oauth2: {
            tokenUrl: endpoint.url,
            clientId: CLIENT_ID,
            clientSecret: sealSecret(h.configKey, CLIENT_SECRET),
            scopes: ['events:write'],
          },
        },
      },
    });
    await ensureEventStream(h.jsm, ns);
    await ensureConsumer(h.jsm, sub);
    await writeSubscriptions(h.kv, [sub]);
    const states: VerificationState[] = [];
    const { logger, lines } = createCapturingLogger();
    dispatcher = await startDispatcher({
      natsUrl: h.nats.url,
      configKey: h.configKey,
      logger,
      allowPrivateSinks: true,
      handshakeRetry: { initialMs: 50, maxMs: 200 },
      onVerification: (_id, state) => states.push(state),
    });
    return { ns, id: `${ns}/orders`, endpoint, sink, states, lines, d: dispatcher };
  }

  it('sends the bearer token with the OPTIONS, and the same token with the deliveries', async () => {
    const { ns, id, endpoint, sink, d } = await setUp(
      issueTokensTo(CLIENT_ID, CLIENT_SECRET),
      consentWithTokens('tok-1'),
    );
    for (let i = 0; i < 3; i++) await publishEvent(h.js, ns, { id: `a-${i}` });
    const [options, ...posts] = await sink.waitForRequests(4);
    assert.equal(options?.method, 'OPTIONS');
    assert.equal(options?.headers.authorization, 'Bearer tok-1');
    assert.ok(options?.headers['webhook-request-origin']);
    assert.deepEqual(
      posts.map((r) => [r.method, r.headers.authorization]),
      [
        ['POST', 'Bearer tok-1'],
        ['POST', 'Bearer tok-1'],
        ['POST', 'Bearer tok-1'],
      ],
    );
    assert.equal(endpoint.requests.length, 1, 'one token for the handshake and the deliveries');
    assert.equal(d.verificationOf(id)?.status, VerificationStatus.Verified);
  });

  it('on a 401 to the OPTIONS, asks again once with a fresh token', async () => {
    const { ns, id, endpoint, sink, d } = await setUp(
      issueTokensTo(CLIENT_ID, CLIENT_SECRET),
      consentWithTokens('tok-2'), // tok-1 was revoked
    );
    await publishEvent(h.js, ns, { id: 'b-1' });
    const [first, second, post] = await sink.waitForRequests(3);
    assert.deepEqual(
      [first, second, post].map((r) => [r?.method, r?.headers.authorization]),
      [
        ['OPTIONS', 'Bearer tok-1'],
        ['OPTIONS', 'Bearer tok-2'],
        ['POST', 'Bearer tok-2'],
      ],
    );
    assert.equal(endpoint.requests.length, 2);
    assert.equal(d.verificationOf(id)?.status, VerificationStatus.Verified);
  });

  it('reports a refused token request as TokenUnavailable, sends no OPTIONS, and recovers', async () => {
    let secretFixed = false;
    const issue = issueTokensTo(CLIENT_ID, CLIENT_SECRET);
    const { ns, id, endpoint, sink, states, lines, d } = await setUp(
      (req, i) =>
        secretFixed
          ? issue(req, i)
          : {
              status: 401,
              body: { error: 'invalid_client', error_description: 'client authentication failed' },
            },
      consentWithTokens('tok-1'),
    );
    await publishEvent(h.js, ns, { id: 'c-1' });
    await endpoint.waitForRequests(2);
    const pending = await waitFor(() => {
      const state = d.verificationOf(id);
      return state?.reason === VerificationReason.TokenUnavailable ? state : undefined;
    }, 'the TokenUnavailable state');
    assert.equal(pending.status, VerificationStatus.Pending, 'asked again later');
    assert.match(
      pending.message,
      /^validation request to http:\/\/127\.0\.0\.1:\d+ not sent: oauth2 token endpoint http:\/\/127\.0\.0\.1:\d+\/oauth\/token answered HTTP 401: invalid_client/,
    );
    assert.equal(sink.requests.length, 0, 'no OPTIONS (nor POST) without a token');
    const warned = lines.find(
      (l) => String(l.msg).startsWith('sink not verified') && l.reason === 'TokenUnavailable',
    );
    assert.ok(warned, 'logged like other handshake failures');

    secretFixed = true; // e.g. the client was re-enabled at the identity provider
    await waitFor(
      () => (sink.requests.some(isPost) ? true : undefined),
      'the event to be delivered',
    );
    assert.equal(sink.requests[0]?.method, 'OPTIONS');
    assert.equal(sink.requests[0]?.headers.authorization, 'Bearer tok-1');
    assert.equal(d.verificationOf(id)?.status, VerificationStatus.Verified);
    assert.ok(states.some((s) => s.reason === VerificationReason.TokenUnavailable));
    const shown = JSON.stringify([lines, states]);
    assert.ok(!shown.includes(CLIENT_SECRET) && !shown.includes('tok-1'));
  });
});

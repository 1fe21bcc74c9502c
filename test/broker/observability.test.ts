import { strict as assert } from 'node:assert';
import { CloudEvent, HTTP } from 'cloudevents';
import { request } from 'undici';
import { EventOutcome, RouteLabel } from '../../broker/metrics.js';
import { ProblemKind } from '../../broker/problems.js';
import { carryTraceContext, isValidTraceparent } from '../../broker/tracing.js';
import { decodeStructured } from '../../core/cloudevents/index.js';
import type { CompiledProducer } from '../../core/config/model.js';
import { applyConfig } from './apply-config.js';
import {
  ACME_KEY,
  GHOST,
  ORDER_CREATED,
  ORDER_SHIPPED,
  OTHER_KEY,
  buildBaseConfig,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const TRACESTATE = 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE';

describe('broker observability', function () {
  let fx: BrokerFixture;
  let seq = 0;
  const nextId = (): string => `obs-${++seq}`;

  before(async () => {
    fx = await startBrokerFixture({ rateLimitClock: () => 0 });
    const config = buildBaseConfig();
    const acme = config.producers.find((p) => p.name === 'acme') as CompiledProducer;
    acme.rateLimit = { eventsPerSecond: 1_000, burst: 1_000 };
    const other = config.producers.find((p) => p.name === 'other') as CompiledProducer;
    other.rateLimit = { eventsPerSecond: 1, burst: 1 };
    await applyConfig(fx, config);
  });
  after(() => fx?.stop());

  function orderEvent(overrides: Record<string, unknown> = {}): CloudEvent<unknown> {
    const id = nextId();
    return new CloudEvent<unknown>({
      type: ORDER_CREATED.type,
      source: 'https://acme.example/obs',
      id,
      data: { orderId: id, total: 2 },
      ...overrides,
    });
  }

  async function post(
    headers: Record<string, string>,
    body: string,
    key = ACME_KEY,
  ): Promise<{ status: number; body: unknown }> {
    const res = await request(`${fx.url}/events`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${key}` },
      body,
    });
    return { status: res.statusCode, body: await res.body.json() };
  }

  async function readStored(sequence: number) {
    const msg = await fx.jsm.streams.getMessage(ORDER_CREATED.stream, { seq: sequence });
    assert.ok(msg, `no message ${sequence}`);
    return decodeStructured(msg.data).attributes;
  }

  describe('W3C trace context', () => {
    it('stores a valid traceparent (and tracestate) header as the event attributes', async () => {
      const message = HTTP.binary(orderEvent());
      const res = await post(
        {
          ...(message.headers as Record<string, string>),
          traceparent: TRACEPARENT,
          tracestate: TRACESTATE,
        },
        message.body as string,
      );
      assert.equal(res.status, 202, JSON.stringify(res.body));
      const stored = await readStored((res.body as { sequence: number }).sequence);
      assert.equal(stored.traceparent, TRACEPARENT);
      assert.equal(stored.tracestate, TRACESTATE);
    });

    it('ignores an invalid traceparent: the event is accepted without one', async () => {
      const invalid = [
        TRACEPARENT.toUpperCase(),
        '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
        '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
        'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        `${TRACEPARENT}-extra`,
        'not a traceparent',
      ];
      for (const traceparent of invalid) {
        const message = HTTP.binary(orderEvent());
        const res = await post(
          { ...(message.headers as Record<string, string>), traceparent, tracestate: TRACESTATE },
          message.body as string,
        );
        assert.equal(res.status, 202, traceparent);
        const stored = await readStored((res.body as { sequence: number }).sequence);
        assert.equal(stored.traceparent, undefined, traceparent);
        assert.equal(stored.tracestate, undefined, traceparent);
      }
    });

    it("keeps an event's own traceparent, and sets the header's on each event of a batch", async () => {
      const own = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const message = HTTP.binary(orderEvent({ traceparent: own }));
      const res = await post(
        { ...(message.headers as Record<string, string>), traceparent: TRACEPARENT },
        message.body as string,
      );
      assert.equal(
        (await readStored((res.body as { sequence: number }).sequence)).traceparent,
        own,
      );

      const batch = await post(
        { 'content-type': 'application/cloudevents-batch+json', traceparent: TRACEPARENT },
        JSON.stringify([orderEvent().toJSON(), orderEvent({ traceparent: own }).toJSON()]),
      );
      assert.equal(batch.status, 202, JSON.stringify(batch.body));
      const [first, second] = batch.body as { sequence: number }[];
      assert.equal((await readStored(first?.sequence ?? 0)).traceparent, TRACEPARENT);
      assert.equal((await readStored(second?.sequence ?? 0)).traceparent, own);
    });

    it('validates traceparent per W3C, accepting future versions with more fields', () => {
      assert.ok(isValidTraceparent(TRACEPARENT));
      assert.ok(isValidTraceparent(`01-${TRACEPARENT.slice(3)}-what-comes-next`));
      assert.ok(!isValidTraceparent(`01-${TRACEPARENT.slice(3)}x`));
      assert.ok(!isValidTraceparent(TRACEPARENT.slice(0, -1)));
      const events = [{ attributes: {}, data: undefined }];
      carryTraceContext(events, [TRACEPARENT, TRACEPARENT], undefined);
      assert.deepEqual(events[0]?.attributes, {}, 'a repeated header is no single traceparent');
      carryTraceContext(events, TRACEPARENT, 'x'.repeat(513));
      assert.deepEqual(events[0]?.attributes, { traceparent: TRACEPARENT }, 'oversized state');
    });
  });

  describe('metrics', () => {
    const KNOWN_OUTCOMES = new Set<string>([
      ...Object.values(EventOutcome),
      ...Object.values(ProblemKind).map((k) => k.outcome),
    ]);
    const ALLOWED: Record<string, (value: string) => boolean> = {
      namespace: (v) => v === 'shop' || v === 'unknown',
      type: (v) => [ORDER_CREATED.type, ORDER_SHIPPED.type, GHOST.type, 'unknown'].includes(v),
      producer: (v) => ['acme', 'other', 'unknown'].includes(v),
      outcome: (v) => KNOWN_OUTCOMES.has(v),
      route: (v) => (Object.values(RouteLabel) as string[]).includes(v),
      method: (v) =>
        ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'other'].includes(v),
      status: (v) => /^[1-5]\d\d$/.test(v),
      transport: (v) => v === 'http' || v === 'grpc',
      le: (v) => v === '+Inf' || Number.isFinite(Number(v)),
    };

    it('exposes the new series, with label values only from the config or fixed sets', async () => {
      // Hostile input: made-up types, paths, methods, keys.
      const stranger = HTTP.binary(orderEvent({ type: 'evil.type.<script>' }));
      await post(stranger.headers as Record<string, string>, stranger.body as string);
      await post(
        stranger.headers as Record<string, string>,
        stranger.body as string,
        'no-such-key',
      );
      await (await request(`${fx.url}/%2e%2e/evil?x=1`)).body.dump();
      await (await request(`${fx.url}/events`, { method: 'PROPFIND' })).body.dump();
      // Limited: other may publish 1 event (burst 1), the second is refused.
      const shipped = (): Record<string, string> =>
        HTTP.binary(
          new CloudEvent({ type: ORDER_SHIPPED.type, source: 'https://o.example/', id: nextId() }),
        ).headers as Record<string, string>;
      assert.equal((await post(shipped(), '', OTHER_KEY)).status, 202);
      assert.equal((await post(shipped(), '', OTHER_KEY)).status, 429);

      const text = await (await request(`${fx.url}/metrics`)).body.text();
      assert.match(
        text,
        /herald_broker_rate_limited_events_total\{namespace="shop",producer="other"\} 1\n/,
      );
      assert.match(
        text,
        /herald_broker_events_total\{namespace="shop",type="com\.example\.order\.shipped",producer="other",outcome="rate_limited"\} 1\n/,
      );
      assert.match(
        text,
        /herald_broker_request_body_bytes_bucket\{le="1024",transport="http"\} [1-9]/,
      );
      assert.match(text, /herald_broker_jetstream_publish_duration_seconds_count [1-9]/);
      assert.match(text, /herald_broker_jetstream_publish_duration_seconds_bucket\{le="0.005"\}/);

      let checked = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith('herald_')) continue;
        for (const [, name = '', value = ''] of line.matchAll(/(\w+)="([^"]*)"/g)) {
          const allowed = ALLOWED[name];
          assert.ok(allowed, `unexpected label ${name} in ${line}`);
          assert.ok(allowed(value), `unbounded label value ${name}="${value}" in ${line}`);
          checked++;
        }
      }
      assert.ok(checked > 50, 'the check saw the series');
      assert.ok(!text.includes('evil') && !text.includes('no-such-key'));
    });
  });
});

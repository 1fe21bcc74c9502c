/**
 * A producer's rate limit across two broker replicas on one nats-server: together they
 * accept about the limit, not twice it; a replica that stops hands its share back; and when
 * the membership cannot be read each replica applies the whole limit (as before sharing).
 * The token buckets run on a frozen clock, so no tokens come back unless the test says so.
 */
import { strict as assert } from 'node:assert';
import { CloudEvent, HTTP } from 'cloudevents';
import { request } from 'undici';
import type { CompiledConfig, CompiledProducer } from '../../core/config/model.js';
import { createLogger } from '../../core/logging.js';
import { REPLICAS_BUCKET } from '../../core/replica-membership.js';
import { startBroker, type RunningBroker } from '../../broker/main.js';
import { countReaches } from '../support/replica-membership.js';
import { applyConfig } from './apply-config.js';
import {
  ACME_KEY,
  ORDER_CREATED,
  buildBaseConfig,
  startBrokerFixture,
  type BrokerFixture,
} from './fixture.js';

const RATE = 2;
const BURST = 6;

function buildLimitedConfig(): CompiledConfig {
  const config = buildBaseConfig();
  const acme = config.producers.find((p) => p.name === 'acme') as CompiledProducer;
  acme.rateLimit = { eventsPerSecond: RATE, burst: BURST };
  return config;
}

interface Replica {
  broker: RunningBroker;
  url: string;
  logLines: string[];
}

describe('broker rate limits across replicas', function () {
  let nowMs = 1_000;
  let seq = 0;

  function event(): CloudEvent<unknown> {
    const id = `replicas-${++seq}`;
    return new CloudEvent<unknown>({
      type: ORDER_CREATED.type,
      source: 'https://acme.example/replicas',
      id,
      data: { orderId: id, total: 1 },
    });
  }

  async function post(url: string, events: CloudEvent<unknown>[]) {
    const message =
      events.length === 1
        ? HTTP.binary(events[0] as CloudEvent<unknown>)
        : {
            headers: { 'content-type': 'application/cloudevents-batch+json' },
            body: JSON.stringify(events.map((e) => e.toJSON())),
          };
    const res = await request(`${url}/events`, {
      method: 'POST',
      headers: {
        ...(message.headers as Record<string, string>),
        authorization: `Bearer ${ACME_KEY}`,
      },
      body: message.body as string,
    });
    const body = (await res.body.json()) as Record<string, unknown>;
    return { status: res.statusCode, retryAfter: res.headers['retry-after'], body };
  }

  /** Posts `n` single events, alternating over `urls`, all at once; counts the answers. */
  async function sendAlternately(urls: string[], n: number) {
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) => post(urls[i % urls.length] as string, [event()])),
    );
    const accepted = answers.filter((a) => a.status === 202).length;
    const limited = answers.filter((a) => a.status === 429);
    assert.equal(accepted + limited.length, n, JSON.stringify(answers.map((a) => a.status)));
    for (const a of limited) assert.match(String(a.retryAfter), /^[1-9]\d*$/);
    return { accepted, limited: limited.length };
  }

  async function startReplica(fx: BrokerFixture): Promise<Replica> {
    const logLines: string[] = [];
    const broker = await startBroker({
      natsUrl: fx.nats.url,
      httpPort: 0,
      host: '127.0.0.1',
      rateLimitClock: () => nowMs,
      logger: createLogger('broker', {
        destination: {
          write(chunk: string) {
            logLines.push(chunk);
            return true;
          },
        } as unknown as NodeJS.WritableStream,
      }),
    });
    return { broker, url: `http://127.0.0.1:${broker.port}`, logLines };
  }

  async function metricsOf(url: string): Promise<string> {
    return (await request(`${url}/metrics`)).body.text();
  }

  describe('with the membership readable', () => {
    let fx: BrokerFixture;
    let second: Replica;

    before(async () => {
      fx = await startBrokerFixture({ rateLimitClock: () => nowMs });
      await applyConfig(fx, buildLimitedConfig());
      second = await startReplica(fx); // loads the config before it answers
      await Promise.all([
        countReaches(fx.broker.membership, 2),
        countReaches(second.broker.membership, 2),
      ]);
    });
    after(async () => {
      await second?.broker.stop();
      await fx?.stop();
    });

    it('accepts the burst once in total, not once per replica', async () => {
      // Alone, each replica would accept BURST of these (2 × BURST in total).
      const { accepted, limited } = await sendAlternately([fx.url, second.url], 3 * BURST);
      assert.equal(accepted, BURST);
      assert.equal(limited, 2 * BURST);
      assert.match(await metricsOf(fx.url), /^herald_broker_rate_limit_replicas 2$/m);
    });

    it('still admits a batch as large as the burst, and makes the producer wait it off', async () => {
      nowMs += 60_000;
      const batch = await post(fx.url, Array.from({ length: BURST }, event));
      assert.equal(batch.status, 202, JSON.stringify(batch.body));
      // This replica's share (BURST / 2 tokens at RATE / 2 per second) is BURST / 2 in debt:
      // one more event waits for BURST / 2 + 1 tokens at 1 per second.
      const next = await post(fx.url, [event()]);
      assert.equal(next.status, 429);
      assert.equal(next.retryAfter, String(BURST / 2 + 1));
      assert.equal(next.body.eventsPerSecond, RATE, 'the problem names the whole limit');
      assert.equal(next.body.burst, BURST);
      const tooBig = await post(second.url, Array.from({ length: BURST + 1 }, event));
      assert.equal(tooBig.status, 413, 'over the whole burst it can never pass');
    });

    it('gives a stopped replica’s share to the one left', async () => {
      await second.broker.stop();
      await countReaches(fx.broker.membership, 1);
      nowMs += 60_000;
      const { accepted } = await sendAlternately([fx.url], 3 * BURST);
      assert.equal(accepted, BURST);
      assert.match(await metricsOf(fx.url), /^herald_broker_rate_limit_replicas 1$/m);
    });
  });

  describe('with the membership unreadable', () => {
    let fx: BrokerFixture;
    let second: Replica;

    before(async () => {
      fx = await startBrokerFixture({ rateLimitClock: () => nowMs });
      await applyConfig(fx, buildLimitedConfig());
      second = await startReplica(fx);
      await countReaches(fx.broker.membership, 2);
      // The bucket is replaced by a stream that holds none of its subjects: announcing fails.
      await fx.jsm.streams.delete(`KV_${REPLICAS_BUCKET}`);
      await fx.jsm.streams.add({ name: `KV_${REPLICAS_BUCKET}`, subjects: ['elsewhere.>'] });
      await Promise.all([fx.broker.membership.refresh(), second.broker.membership.refresh()]);
    });
    after(async () => {
      await second?.broker.stop();
      await fx?.stop();
    });

    it('falls back to the whole limit on each replica, and warns once', async () => {
      nowMs += 60_000;
      const { accepted } = await sendAlternately([fx.url, second.url], 3 * BURST);
      assert.equal(accepted, 2 * BURST, 'traffic is never refused for want of coordination');
      assert.match(await metricsOf(second.url), /^herald_broker_rate_limit_replicas 1$/m);
      await second.broker.membership.refresh();
      for (const lines of [fx.logLines, second.logLines]) {
        const warned = lines.filter((l) => l.includes('cannot read the replica membership'));
        assert.equal(warned.length, 1);
        assert.equal((JSON.parse(warned[0] as string) as { level: number }).level, 40);
      }
    });
  });
});

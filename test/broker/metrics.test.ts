import { strict as assert } from 'node:assert';
import { Histogram, Registry } from 'prom-client';
import { HotHistogram } from '../../broker/metrics.js';

describe('HotHistogram', () => {
  const buckets = [0.001, 0.01, 0.1, 1];
  const observations: [string, number, number][] = [
    ['/events', 202, 0.0004],
    ['/events', 202, 0.001],
    ['/events', 202, 0.05],
    ['/events', 400, 3],
    ['/healthz', 200, 0.01],
    ['/events', 202, 0.0101],
  ];

  it('exposes what a prom-client Histogram exposes for the same observations', async () => {
    const expected = new Registry();
    const reference = new Histogram({
      name: 'x_seconds',
      help: 'help "text"\\n',
      labelNames: ['route', 'status'] as const,
      buckets,
      registers: [expected],
    });
    const actual = new Registry();
    const hot = new HotHistogram(actual, {
      name: 'x_seconds',
      help: 'help "text"\\n',
      labelNames: ['route', 'status'],
      buckets,
    });
    for (const [route, status, value] of observations) {
      reference.observe({ route, status }, value);
      hot.seriesOf(route, status).observe(value);
    }
    assert.equal(await actual.metrics(), await expected.metrics());
    // The JSON form too, but for prom-client's empty exemplar fields.
    const values = async (r: Registry): Promise<unknown> =>
      (await r.getMetricsAsJSON()).map((m) => ({
        ...m,
        values: m.values.map((v) => ({
          labels: v.labels,
          value: v.value,
          metricName: (v as { metricName?: string }).metricName,
        })),
      }));
    assert.deepEqual(await values(actual), await values(expected));
  });

  it('exposes an unlabelled histogram from the start, like prom-client', async () => {
    const expected = new Registry();
    const reference = new Histogram({ name: 'y', help: 'y', buckets, registers: [expected] });
    const actual = new Registry();
    const series = new HotHistogram(actual, { name: 'y', help: 'y', labelNames: [], buckets });
    const unlabelled = series.seriesOf();
    assert.equal(await actual.metrics(), await expected.metrics());
    reference.observe(0.5);
    unlabelled.observe(0.5);
    assert.equal(await actual.metrics(), await expected.metrics());
  });
});

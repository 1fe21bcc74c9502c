/** examples/ is what `herald run` applies by default: it must load and compile without a problem. */
import { strict as assert } from 'node:assert';
import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import { generateConfigKey, parseConfigKey } from '../../core/config/seal.js';
import { createSilentLogger } from '../../core/logging.js';
import { compileResources } from '../../operator/compile.js';
import { loadResourceDirectory } from '../../operator/files.js';
import { startOperator } from '../../operator/main.js';
import { startTestNatsServer } from '../support/nats-server.js';

const examplesDir = fileURLToPath(new URL('../../examples', import.meta.url));

describe('examples/ in file mode', function () {
  this.timeout(30_000);

  it('loads and compiles without problems, skipping only the Namespace', async () => {
    const dir = await loadResourceDirectory(examplesDir);
    assert.deepEqual(dir.errors, []);
    assert.deepEqual(
      dir.skipped.map((s) => s.kind),
      ['Namespace'],
    );
    const configKey = parseConfigKey(generateConfigKey());
    const { config, problems } = compileResources(dir, { configKey });
    assert.deepEqual(problems, []);
    assert.ok(config.eventTypes.length > 0 && config.subscriptions.length > 0);
  });

  it('applies to a real nats-server: a stream per EventType, a consumer per pair', async () => {
    const nats = await startTestNatsServer();
    const operator = await startOperator({
      natsUrl: nats.url,
      resourcesDir: examplesDir,
      configKey: parseConfigKey(generateConfigKey()),
      logger: createSilentLogger(),
    });
    try {
      const { config, problems } = await operator.applyNow();
      assert.deepEqual(problems, []);
      const jsm = await jetstreamManager(await nats.connect());
      for (const sub of config.subscriptions) {
        for (const c of sub.consumers) {
          const info = await jsm.consumers.info(c.stream, c.durable);
          assert.equal(info.config.max_deliver, sub.delivery.retry.maxAttempts + 1);
        }
      }
    } finally {
      await operator.stop();
      await nats.stop();
    }
  });
});

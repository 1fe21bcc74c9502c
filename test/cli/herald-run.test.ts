/**
 * `herald run` as a user drives it: a demo sink moved to another port, signing secrets
 * rotated while it runs, and private sinks turned off on the command line.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { findFreePort, REPO_ROOT, spawnHerald, type HeraldProcess } from '../support/processes.js';

const EXAMPLES = join(REPO_ROOT, 'examples');
const API_KEY = 'acme-demo-key-0123456789'; // examples/20-producer.yaml

interface RunningCli {
  herald: HeraldProcess;
  httpPort: number;
  sinkPort: number;
  stop(): Promise<void>;
}

/** `herald run --resources DIR` on free ports, after its banner. */
async function startRun(
  resources: string,
  extra: string[] = [],
  sinkPort?: number,
): Promise<RunningCli> {
  const [httpPort, natsPort] = [await findFreePort(), await findFreePort()];
  sinkPort ??= await findFreePort();
  const data = mkdtempSync(join(tmpdir(), 'herald-run-data-'));
  const herald = spawnHerald([
    'run',
    '--resources',
    resources,
    '--data-dir',
    data,
    '--http-port',
    String(httpPort),
    '--grpc-port',
    '0',
    '--sink-port',
    String(sinkPort),
    '--nats-port',
    String(natsPort),
    ...extra,
  ]);
  const stop = async (): Promise<void> => {
    const code = await herald.stop();
    rmSync(data, { recursive: true, force: true });
    assert.equal(code, 0, `herald run did not stop cleanly:\n${herald.stderr()}`);
  };
  try {
    await herald.waitForOutput(/Herald is running[^]*Press Ctrl-C to stop\./);
  } catch (err) {
    await herald.stop();
    rmSync(data, { recursive: true, force: true });
    throw err;
  }
  return { herald, httpPort, sinkPort, stop };
}

/** Resolves with the first stderr line after `from` characters that matches `pattern`. */
function waitForStderr(herald: HeraldProcess, pattern: RegExp, from = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const line = herald
        .stderr()
        .slice(from)
        .split('\n')
        .find((l) => pattern.test(l));
      if (line === undefined) return false;
      herald.child.stderr?.off('data', check);
      herald.child.off('exit', exited);
      resolve(line);
      return true;
    };
    const exited = (): void =>
      reject(new Error(`herald exited before logging ${pattern}:\n${herald.stderr()}`));
    if (check()) return;
    herald.child.stderr?.on('data', check);
    herald.child.once('exit', exited);
  });
}

async function postOrder(httpPort: number, id: string): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({
      specversion: '1.0',
      id,
      source: 'https://acme.example/orders',
      type: 'com.example.order.created',
      data: { orderId: id, total: 1 },
    }),
  });
  assert.equal(res.status, 202, await res.text());
}

/** The sink's line for event `id`, as `herald run` prints it. */
const sinkLine = (herald: HeraldProcess, id: string): Promise<string> =>
  herald.waitForOutput(new RegExp(`\\[sink\\] com\\.example\\.order\\.created\\s+id=${id}\\s.*`));

const newSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/** The example Subscription, signed with every key of Secret demo-sink-signing (secretRefs). */
function rotationSubscription(sinkPort: number): string {
  return `apiVersion: herald.dev/v1alpha1
kind: Subscription
metadata: { name: demo-sink, namespace: shop }
spec:
  eventTypes: [order-created]
  sink: { uri: 'http://127.0.0.1:${sinkPort}/' }
  delivery:
    signing:
      secretRefs:
        - { name: demo-sink-signing, key: first }
        - { name: demo-sink-signing, key: second }
`;
}

function signingSecret(first: string, second: string): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: demo-sink-signing, namespace: shop }
type: Opaque
stringData: { first: '${first}', second: '${second}' }
`;
}

/** A delivery to the demo sink signed by `secret`, as the standardwebhooks library signs. */
async function postSigned(sinkPort: number, secret: string, id: string): Promise<void> {
  const body = JSON.stringify({ orderId: id, total: 1 });
  const now = new Date();
  const res = await fetch(`http://127.0.0.1:${sinkPort}/`, {
    method: 'POST',
    headers: {
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-source': 'https://acme.example/orders',
      'ce-type': 'com.example.order.created',
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, now, body),
    },
    body,
  });
  assert.equal(res.status, 204);
}

describe('herald run', function () {
  this.timeout(60_000);

  it('warns, naming the Subscriptions, when --sink-port moves the sink away from the examples', async () => {
    const run = await startRun(EXAMPLES);
    try {
      const out = run.herald.stdout();
      assert.match(
        out,
        new RegExp(
          `Warning: the demo sink listens on port ${run.sinkPort}, but these Subscriptions deliver to port 8088`,
        ),
      );
      assert.match(out, /^ {2}shop\/demo-sink {2}http:\/\/127\.0\.0\.1:8088\/$/m);
      assert.match(out, new RegExp(`spec\\.sink\\.uri to http://127\\.0\\.0\\.1:${run.sinkPort}/`));
    } finally {
      await run.stop();
    }
  });

  it('verifies deliveries signed with every secret of secretRefs, also after the Secret is edited while running', async () => {
    const work = mkdtempSync(join(tmpdir(), 'herald-run-rotation-'));
    const resources = join(work, 'resources');
    mkdirSync(resources);
    for (const f of ['10-eventtypes.yaml', '20-producer.yaml'])
      copyFileSync(join(EXAMPLES, f), join(resources, f));
    const [a, b, c, d] = [newSecret(), newSecret(), newSecret(), newSecret()];
    const secretFile = join(resources, '40-signing-secret.yaml');
    writeFileSync(secretFile, signingSecret(a, b));
    // The sink port is only known once free ports are picked: write the Subscription then.
    const port = await findFreePort();
    writeFileSync(join(resources, '30-subscription.yaml'), rotationSubscription(port));
    let run: RunningCli | undefined;
    try {
      run = await startRun(resources, ['--log-level', 'info'], port);
      assert.doesNotMatch(run.herald.stdout(), /Warning/);
      await postOrder(run.httpPort, 'before-edit');
      assert.match(await sinkLine(run.herald, 'before-edit'), /signature: verified/);

      // Both secrets replaced: the dispatcher signs with c and d only once it has the edit.
      const logged = run.herald.stderr().length;
      writeFileSync(secretFile, signingSecret(c, d));
      await waitForStderr(
        run.herald,
        /"subscription":"demo-sink".*"msg":"subscription updated in place"/,
        logged,
      );
      await postOrder(run.httpPort, 'after-edit');
      assert.match(await sinkLine(run.herald, 'after-edit'), /signature: verified/);

      // The sink checks for real: the new secrets verify, a replaced one no longer does.
      await postSigned(run.sinkPort, d, 'signed-with-new');
      assert.match(await sinkLine(run.herald, 'signed-with-new'), /signature: verified/);
      await postSigned(run.sinkPort, a, 'signed-with-old');
      assert.match(await sinkLine(run.herald, 'signed-with-old'), /signature: INVALID/);
    } finally {
      await run?.stop();
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('--no-allow-private-sinks refuses the loopback demo sink: the event is dead-lettered as forbidden', async () => {
    const run = await startRun(EXAMPLES, ['--no-allow-private-sinks']);
    try {
      await postOrder(run.httpPort, 'private-refused');
      const line = await waitForStderr(run.herald, /"msg":"event dead-lettered"/);
      assert.match(line, /"code":"forbidden_address"/);
      assert.match(line, /"subscription":"demo-sink"/);
      assert.match(line, /forbidden address \(loopback\)/);
      assert.doesNotMatch(run.herald.stdout(), /\[sink\] com\.example/);
    } finally {
      await run.stop();
    }
  });
});

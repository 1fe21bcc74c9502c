/**
 * The container image recipe (Dockerfile, .dockerignore) against the Helm chart that runs it and
 * the repository it is built from. The machines that run this have no container runtime, so the
 * image is never built here. Instead the recipe is parsed, its build context is listed from
 * .dockerignore, and its stages are replayed into a temporary directory (COPY as Docker copies,
 * each RUN as the command it stands for); then the chart's own command, environment and probes
 * run against that tree, as the chart's user.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { dirname, join, posix } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { findKubeTools } from '../support/kube-tools.js';
import { startTestNatsServer, type TestNatsServer } from '../support/nats-server.js';
import { findFreePort, REPO_ROOT } from '../support/processes.js';
import { replayDockerfile, startAsPodUser, type Running } from './image-replay.js';
import {
  instructionArgs,
  isIgnored,
  listBuildContext,
  parseDockerfile,
  parseDockerignore,
  readCopy,
  readExecForm,
  readKeyValues,
  type CopyInstruction,
  type Stage,
} from './dockerfile.js';

const DOCKERFILE = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'));
const IGNORE = parseDockerignore(readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8'));
const PKG = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
  engines: { node: string };
  bin: { herald: string };
};
const CHART_META = parse(readFileSync(join(REPO_ROOT, 'charts/herald/Chart.yaml'), 'utf8')) as {
  appVersion: string;
  home: string;
};
/** What `docker build` tags: the last stage. */
const RUNTIME = DOCKERFILE.stages.at(-1)!;
const NAMESPACE = 'herald-system';
const COMPONENTS = ['operator', 'broker', 'dispatcher'] as const;

interface Container {
  command: string[];
  args: string[];
  workingDir?: string;
  env?: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports?: { name: string; containerPort: number }[];
  readinessProbe: { httpGet: { path: string; port: string } };
  livenessProbe: { httpGet: { path: string; port: string } };
}
interface PodSpec {
  securityContext: { runAsUser: number; runAsGroup: number; runAsNonRoot: boolean };
  containers: Container[];
}
interface Rendered {
  kind?: string;
  metadata: { labels: Record<string, string> };
  spec: { template: { spec: PodSpec } };
}

/** The chart's pod specs by component: `helm template` with the defaults and a NATS URL. */
function renderPods(): Map<string, PodSpec> {
  const home = mkdtempSync(join(tmpdir(), 'herald-helm-'));
  try {
    const chart = join(REPO_ROOT, 'charts/herald');
    const r = spawnSync(
      findKubeTools().helm,
      ['template', 'herald', chart, '-n', NAMESPACE, '--set', 'nats.url=nats://nats:4222'],
      {
        encoding: 'utf8',
        // Helm's cache and config in a scratch dir, never the user's; no cluster is contacted.
        env: {
          ...process.env,
          HELM_CACHE_HOME: home,
          HELM_CONFIG_HOME: home,
          HELM_DATA_HOME: home,
        },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const pods = new Map<string, PodSpec>();
    for (const doc of parseAllDocuments(r.stdout)) {
      const obj = doc.toJS() as Rendered | null;
      if (obj?.kind !== 'Deployment') continue;
      pods.set(obj.metadata.labels['app.kubernetes.io/component']!, obj.spec.template.spec);
    }
    assert.deepEqual([...pods.keys()].sort(), [...COMPONENTS].sort());
    return pods;
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The directory a stage's RUN and relative paths start from: its last WORKDIR. */
function workdirOf(stage: Stage): string {
  return instructionArgs(stage, 'WORKDIR').reduce((dir, next) => posix.resolve(dir, next), '/');
}

function lastArgs(stage: Stage, keyword: string): string {
  const found = instructionArgs(stage, keyword).at(-1);
  assert.ok(found !== undefined, `the ${stage.name} stage has no ${keyword}`);
  return found;
}

function copiesOf(stage: Stage): CopyInstruction[] {
  return instructionArgs(stage, 'COPY').map(readCopy);
}

/** The runtime stage's ENV, as the container starts with it. */
function imageEnv(): Record<string, string> {
  return Object.assign({}, ...instructionArgs(RUNTIME, 'ENV').map(readKeyValues)) as Record<
    string,
    string
  >;
}

/** The USER of the runtime stage, numeric as the kubelet needs it for runAsNonRoot. */
function imageUser(): { uid: number; gid: number } {
  const m = /^(\d+):(\d+)$/.exec(lastArgs(RUNTIME, 'USER'));
  assert.ok(m, `USER must be numeric uid:gid, is ${lastArgs(RUNTIME, 'USER')}`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

describe('the container image recipe (Dockerfile)', function () {
  this.timeout(60_000);
  let pods: Map<string, PodSpec>;
  before(() => {
    pods = renderPods();
  });
  const containerOf = (component: string): Container => pods.get(component)!.containers[0]!;

  it('runs as the user and group of the chart’s pods, which is not root', () => {
    const user = imageUser();
    assert.notEqual(user.uid, 0);
    for (const [component, pod] of pods) {
      assert.equal(pod.securityContext.runAsNonRoot, true, component);
      assert.equal(pod.securityContext.runAsUser, user.uid, component);
      assert.equal(pod.securityContext.runAsGroup, user.gid, component);
    }
  });

  it('starts the CLI the chart starts: ENTRYPOINT and image.command name one file', () => {
    const workdir = workdirOf(RUNTIME);
    const entrypoint = readExecForm(lastArgs(RUNTIME, 'ENTRYPOINT'));
    assert.equal(entrypoint.length, 2, `ENTRYPOINT ${entrypoint.join(' ')}`);
    for (const component of COMPONENTS) {
      const c = containerOf(component);
      // The chart sets no workingDir: its relative command starts from the image's WORKDIR.
      assert.equal(c.workingDir, undefined);
      assert.deepEqual(c.args, [component]);
      assert.equal(c.command.length, 2, `command ${c.command.join(' ')}`);
      assert.equal(c.command[0], entrypoint[0]);
      assert.equal(posix.resolve(workdir, c.command[1]!), posix.resolve(workdir, entrypoint[1]!));
      // The file `npm run build` makes for package.json's bin (npx herald).
      assert.equal(posix.normalize(c.command[1]!), posix.normalize(PKG.bin.herald));
    }
  });

  it('builds every stage on one Node.js image whose major satisfies package.json engines', () => {
    const images = new Set(DOCKERFILE.stages.map((s) => s.image));
    assert.equal(images.size, 1, `stages use ${[...images].join(', ')}`);
    const [image] = images;
    const major = /^node:(\d+)(?:[-.@]|$)/.exec(image!)?.[1];
    assert.ok(major, `${image} is not an official node image with a major version`);
    const minimum = /^>=\s*(\d+)/.exec(PKG.engines.node)?.[1];
    assert.ok(minimum, `engines.node ${PKG.engines.node}`);
    assert.ok(Number(major) >= Number(minimum), `${image} is older than ${PKG.engines.node}`);
  });

  it('copies only sources that exist in the repository and reach the build context', () => {
    for (const stage of DOCKERFILE.stages) {
      for (const copy of copiesOf(stage)) {
        if (copy.from !== undefined) {
          assert.ok(
            DOCKERFILE.stages.some((s) => s.name === copy.from),
            `no stage ${copy.from}`,
          );
          continue;
        }
        for (const source of copy.sources) {
          assert.ok(existsSync(join(REPO_ROOT, source)), `COPY ${source}: not in the repository`);
          assert.ok(!isIgnored(source, IGNORE), `COPY ${source}: .dockerignore keeps it out`);
        }
      }
    }
  });

  it('sends only those sources to docker build: no node_modules, .git, dist, tests or secrets', () => {
    const sources = DOCKERFILE.stages
      .flatMap(copiesOf)
      .filter((c) => c.from === undefined)
      .flatMap((c) => c.sources.map((s) => posix.normalize(s).replace(/\/$/, '')));
    const within = (file: string, source: string): boolean =>
      file === source || file.startsWith(`${source}/`);
    const context = listBuildContext(REPO_ROOT, IGNORE);
    assert.deepEqual(
      context.filter((f) => !sources.some((s) => within(f, s))),
      [],
      'sent to docker build but never copied',
    );
    for (const s of sources) {
      assert.ok(
        context.some((f) => within(f, s)),
        `${s} sends nothing`,
      );
    }
    for (const path of [
      'node_modules/yaml/package.json',
      '.git/HEAD',
      'dist/cli/herald.js',
      '.herald/config.key',
      '.prof/cpu.cpuprofile',
      'test/support/fixtures/tls/ca.key',
      'core/config/seal.test.ts',
      'cli/node_modules/x/index.js',
      '.env',
      'broker/.env.local',
    ]) {
      assert.ok(isIgnored(path, IGNORE), `${path} would be sent to docker build`);
    }
  });

  it('labels the image with the version, licence and source of package.json and the chart', () => {
    const labels = Object.assign(
      {},
      ...instructionArgs(RUNTIME, 'LABEL').map(readKeyValues),
    ) as Record<string, string>;
    assert.equal(labels['org.opencontainers.image.version'], PKG.version);
    // The chart's default tag is its appVersion: the image it pulls says the same version.
    assert.equal(CHART_META.appVersion, PKG.version);
    assert.equal(labels['org.opencontainers.image.licenses'], PKG.license);
    assert.equal(labels['org.opencontainers.image.source'], CHART_META.home);
  });

  it('bakes in no credentials or connection settings: the chart supplies them', () => {
    const names = DOCKERFILE.stages.flatMap((s) => [
      ...instructionArgs(s, 'ENV').flatMap((e) => Object.keys(readKeyValues(e))),
      ...instructionArgs(s, 'ARG').map((a) => a.split('=')[0]!),
    ]);
    names.push(...Object.keys(DOCKERFILE.args));
    assert.deepEqual(
      names.filter((n) => /KEY|SECRET|TOKEN|PASSWORD|CREDS|NATS|HERALD/i.test(n)),
      [],
    );
  });

  describe('replayed without a container runtime', function () {
    this.timeout(60_000);
    let root: string;
    let runtimeRoot: string;
    /** The runtime stage's WORKDIR, on this machine. */
    let app: string;
    let keyFile: string;
    let nats: TestNatsServer;

    before(async function () {
      this.timeout(300_000);
      root = mkdtempSync(join(tmpdir(), 'herald-image-'));
      chmodSync(root, 0o755); // the pod's user must reach the replayed tree
      const roots = await replayDockerfile(DOCKERFILE, IGNORE, join(root, 'stages'));
      runtimeRoot = roots.get(RUNTIME.name)!;
      app = join(runtimeRoot, workdirOf(RUNTIME));
      // The config key Secret as the kubelet mounts it: mode 0440, readable by the pod's group.
      keyFile = join(root, 'config-key', 'config-key');
      mkdirSync(dirname(keyFile), { mode: 0o755 });
      writeFileSync(keyFile, randomBytes(32).toString('base64'));
      if (process.getuid?.() === 0) chownSync(keyFile, 0, imageUser().gid);
      chmodSync(keyFile, process.getuid?.() === 0 ? 0o440 : 0o400);
      nats = await startTestNatsServer();
    });
    after(async () => {
      await nats?.stop();
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('holds the built CLI, the production dependencies and package.json, and nothing else', () => {
      assert.deepEqual(readdirSync(app).sort(), ['dist', 'node_modules', 'package.json']);
      for (const component of COMPONENTS) {
        const cli = posix.resolve(workdirOf(RUNTIME), containerOf(component).command[1]!);
        assert.ok(existsSync(join(runtimeRoot, cli)), `${component}: the image has no ${cli}`);
      }
      const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
        packages: Record<string, { dev?: boolean }>;
      };
      const dev = Object.keys(lock.packages).filter((p) => p && lock.packages[p]!.dev);
      assert.ok(dev.includes('node_modules/typescript'));
      assert.deepEqual(
        dev.filter((p) => existsSync(join(app, p))),
        [],
        'development packages in the image',
      );
      const built = readdirSync(join(app, 'dist'), { recursive: true }) as string[];
      assert.deepEqual(
        built.filter((f) => /\.ts$|\.test\.js$/.test(f)),
        [],
        'sources or tests in dist/',
      );
    });

    it('prints the usage with no arguments, and operator --help, on production dependencies alone', async () => {
      const [node, cli] = readExecForm(lastArgs(RUNTIME, 'ENTRYPOINT'));
      assert.equal(node, 'node');
      const argv = [process.execPath, join(runtimeRoot, posix.resolve(workdirOf(RUNTIME), cli!))];
      const cmd = readExecForm(lastArgs(RUNTIME, 'CMD'));
      const usage = startAsPodUser([...argv, ...cmd], app, imageEnv(), imageUser());
      assert.equal(await usage.exited, 0, usage.output());
      assert.match(usage.output(), /^Usage: herald <command>/);
      for (const c of COMPONENTS) assert.match(usage.output(), new RegExp(`^ {2}${c} `, 'm'));
      const operator = startAsPodUser(
        [...argv, 'operator', '--help'],
        app,
        imageEnv(),
        imageUser(),
      );
      assert.equal(await operator.exited, 0, operator.output());
      assert.match(operator.output(), /^Usage: herald operator/);
      assert.match(operator.output(), /--kubeconfig/);
    });

    /**
     * Starts a component with the chart's command, arguments and environment from the image's
     * WORKDIR. Ports move to free ones, NATS_URL to the test server, the key file to its mount.
     */
    async function startLikeThePod(
      component: string,
    ): Promise<{ running: Running; probeUrl(kind: 'readinessProbe' | 'livenessProbe'): string }> {
      const c = containerOf(component);
      const env: Record<string, string> = { ...imageEnv() };
      for (const e of c.env ?? []) {
        if (e.value !== undefined) env[e.name] = e.value;
        else if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[e.name] = NAMESPACE;
        else assert.fail(`${component}: no stand-in for env ${e.name}`);
      }
      const ports = new Map<number, number>(); // the chart's port -> the one used here
      for (const name of Object.keys(env).filter((n) => /^HERALD_\w+_PORT$/.test(n))) {
        const free = await findFreePort();
        ports.set(Number(env[name]), free);
        env[name] = String(free);
      }
      assert.ok(env.NATS_URL && env.HERALD_CONFIG_KEY_FILE, `${component}: chart env incomplete`);
      env.NATS_URL = nats.url;
      env.HERALD_CONFIG_KEY_FILE = keyFile;
      assert.equal(c.command[0], 'node');
      const argv = [process.execPath, ...c.command.slice(1), ...c.args];
      return {
        running: startAsPodUser(argv, app, env, imageUser()),
        probeUrl(kind) {
          const { path, port } = c[kind].httpGet;
          const declared = c.ports?.find((p) => p.name === port);
          assert.ok(declared, `${component} probes port ${port}, which it does not declare`);
          const local = ports.get(declared.containerPort);
          assert.ok(
            local,
            `${component} probes ${declared.containerPort}: no HERALD_*_PORT says so`,
          );
          return `http://127.0.0.1:${local}${path}`;
        },
      };
    }

    /**
     * A probe as the kubelet makes it. The dispatcher logs that it started just before its
     * metrics server listens, so a refused connection is tried again 100 ms later.
     */
    async function probe(url: string, running: Running): Promise<number> {
      for (;;) {
        try {
          return (await fetch(url)).status;
        } catch {
          // not listening yet
        }
        const gone = await Promise.race([
          running.exited.then(() => true),
          delay(100).then(() => false),
        ]);
        if (gone) assert.fail(`exited before answering ${url}:\n${running.output()}`);
      }
    }

    for (const [component, started] of [
      ['broker', /"msg":"broker listening"/],
      ['dispatcher', /"msg":"dispatcher started"/],
    ] as const) {
      it(`runs the ${component} as the chart does, as the pod’s user, and passes its probes`, async () => {
        const { running, probeUrl } = await startLikeThePod(component);
        let code: number | null;
        try {
          await running.waitForOutput(started);
          for (const kind of ['readinessProbe', 'livenessProbe'] as const) {
            assert.equal(await probe(probeUrl(kind), running), 200, `${kind}: ${running.output()}`);
          }
        } finally {
          code = await running.stop();
        }
        // SIGTERM, as the kubelet stops a pod: a clean exit.
        assert.equal(code, 0, running.output());
      });
    }
  });
});

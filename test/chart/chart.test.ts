/**
 * The Helm chart (charts/herald), checked with the real `helm` binary (DESIGN.md §9): it lints,
 * it renders what a platform team expects from the defaults and from their own values, it
 * refuses what it must, and it ships exactly the repository's CRDs.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { parseConfigKey } from '../../core/config/seal.js';
import { findKubeTools } from '../support/kube-tools.js';
import { REPO_ROOT } from '../support/processes.js';

const CHART = join(REPO_ROOT, 'charts/herald');
const RELEASE = 'herald';
const NAMESPACE = 'herald-system';
const NATS_URL = 'nats://nats.nats.svc.cluster.local:4222';
const COMPONENTS = ['operator', 'broker', 'dispatcher'] as const;
type Component = (typeof COMPONENTS)[number];

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken?: boolean;
  securityContext?: { runAsNonRoot?: boolean; seccompProfile?: { type: string } };
  containers: Container[];
  volumes?: { name: string; secret?: { secretName: string; items?: { key: string }[] } }[];
  topologySpreadConstraints?: {
    topologyKey: string;
    labelSelector?: { matchLabels?: Record<string, string> };
  }[];
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
/** Any rendered object; kind-specific fields are read through the accessors below. */
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  automountServiceAccountToken?: boolean;
  data?: Record<string, string>;
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
  spec?: Record<string, unknown>;
}
interface Deployment extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
      spec: PodSpec;
    };
  };
}

interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

let helmPath: string;
let helmHome: string;

/** Runs helm; several run at once, so the suite costs about one helm start-up. */
function helm(args: string[]): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(helmPath, args, {
      // Helm's cache and config in a scratch dir, never the user's; no cluster is contacted.
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(helmHome, 'cache'),
        HELM_CONFIG_HOME: join(helmHome, 'config'),
        HELM_DATA_HOME: join(helmHome, 'data'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** `helm template` of the chart as release `herald`, with nats.url set unless told otherwise. */
function template(args: string[], { natsUrl = true } = {}): Promise<HelmResult> {
  const nats = natsUrl ? ['--set', `nats.url=${NATS_URL}`] : [];
  return helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...nats, ...args]);
}

/** The objects a successful `helm template` rendered. */
function objectsOf(run: HelmResult): K8sObject[] {
  assert.equal(run.status, 0, `helm template failed:\n${run.stderr}`);
  return parseAllDocuments(run.stdout)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((obj): obj is K8sObject => obj !== null);
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  assert.ok(
    found,
    `no ${kind} ${name}; rendered: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ')}`,
  );
  return found;
}

function deployment(objects: K8sObject[], component: Component): Deployment {
  return find(objects, 'Deployment', `${RELEASE}-${component}`) as Deployment;
}

function container(objects: K8sObject[], component: Component): Container {
  const [first] = deployment(objects, component).spec.template.spec.containers;
  assert.ok(first, `${component} has no container`);
  return first;
}

function env(c: Container): Map<string, EnvVar> {
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}

function envValue(c: Container, name: string): string | undefined {
  return env(c).get(name)?.value;
}

/** The container port a probe targets, resolving a named port. */
function probePort(c: Container, probe: Probe | undefined): number {
  assert.ok(probe, `${c.name} has no probe`);
  const { port } = probe.httpGet;
  if (typeof port === 'number') return port;
  const named = c.ports?.find((p) => p.name === port);
  assert.ok(named, `${c.name} probes port "${port}", which it does not declare`);
  return named.containerPort;
}

const sorted = (items: string[]): string[] => [...items].sort();

/** What a platform team might put in their values file; rendered once. */
const CUSTOM_VALUES = {
  image: { repository: 'registry.example/herald', tag: '1.2.3' },
  imagePullSecrets: [{ name: 'pull' }],
  configKey: { existingSecret: 'my-herald-key' },
  nats: { credsSecret: { name: 'herald-nats' } },
  operator: { replicas: 1, leaderElect: false },
  broker: {
    replicas: 5,
    ingress: {
      enabled: true,
      className: 'nginx',
      hosts: [{ host: 'events.acme.example', paths: [{ path: '/' }] }],
      tls: [{ secretName: 'events-tls', hosts: ['events.acme.example'] }],
    },
  },
  dispatcher: {
    replicas: 3,
    extraEnv: [{ name: 'HERALD_ALLOWED_CIDRS', value: 'hooks.internal' }],
  },
  metrics: { serviceMonitor: { enabled: true } },
  networkPolicy: { enabled: true },
};

describe('Helm chart (charts/herald)', function () {
  this.timeout(60_000);
  let appVersion: string;
  let runs: Record<
    | 'lint'
    | 'defaults'
    | 'freshKey'
    | 'custom'
    | 'noNatsUrl'
    | 'wrongType'
    | 'misspelt'
    | 'noLeaderElection'
    | 'installDryRun',
    HelmResult
  >;
  let defaults: K8sObject[];
  let custom: K8sObject[];

  before(async () => {
    helmPath = findKubeTools().helm;
    helmHome = mkdtempSync(join(tmpdir(), 'herald-chart-'));
    const valuesFile = join(helmHome, 'custom-values.yaml');
    writeFileSync(valuesFile, stringify(CUSTOM_VALUES));
    appVersion = String(
      (parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { appVersion: unknown })
        .appVersion,
    );
    const pending = {
      lint: helm(['lint', '--strict', CHART, '--set', `nats.url=${NATS_URL}`]),
      defaults: template(['--include-crds']),
      freshKey: template(['--show-only', 'templates/config-key-secret.yaml']),
      custom: template(['--values', valuesFile]),
      noNatsUrl: template([], { natsUrl: false }),
      wrongType: template(['--set', 'broker.replicas=two']),
      misspelt: template(['--set', 'dispatcher.allowPrivateSink=true']),
      noLeaderElection: template(['--set', 'operator.leaderElect=false']),
      installDryRun: helm([
        'install',
        RELEASE,
        CHART,
        '--dry-run=client',
        '--namespace',
        NAMESPACE,
        '--set',
        `nats.url=${NATS_URL}`,
      ]),
    };
    const names = Object.keys(pending) as (keyof typeof pending)[];
    const results = await Promise.all(names.map((name) => pending[name]));
    runs = Object.fromEntries(names.map((name, i) => [name, results[i]])) as typeof runs;
    defaults = objectsOf(runs.defaults);
    custom = objectsOf(runs.custom);
  });

  after(() => {
    if (helmHome) rmSync(helmHome, { recursive: true, force: true });
  });

  describe('with the defaults', () => {
    it('passes `helm lint --strict` with only nats.url set', () => {
      assert.equal(runs.lint.status, 0, `${runs.lint.stdout}\n${runs.lint.stderr}`);
      assert.match(runs.lint.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });

    it('runs the operator, broker and dispatcher as three Deployments of one image', () => {
      const deployments = defaults.filter((o) => o.kind === 'Deployment');
      assert.deepEqual(sorted(deployments.map((d) => d.metadata.name)), [
        'herald-broker',
        'herald-dispatcher',
        'herald-operator',
      ]);
      for (const component of COMPONENTS) {
        const c = container(defaults, component);
        assert.equal(c.image, `ghcr.io/herald-dev/herald:${appVersion}`);
        assert.deepEqual(
          [...(c.command ?? []), ...(c.args ?? [])],
          ['node', 'dist/cli/herald.js', component],
        );
        assert.equal(envValue(c, 'NATS_URL'), NATS_URL, `${component} NATS_URL`);
        assert.equal(deployment(defaults, component).spec.replicas, 2, `${component} replicas`);
      }
    });

    it('runs the operator in Kubernetes mode with leader election in its own namespace', () => {
      const c = container(defaults, 'operator');
      assert.equal(envValue(c, 'HERALD_LEADER_ELECT'), 'true');
      assert.equal(
        env(c).get('HERALD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath,
        'metadata.namespace',
      );
      assert.equal(envValue(c, 'HERALD_METRICS_PORT'), '9090');
      assert.equal(envValue(c, 'HERALD_RESOURCES'), undefined, 'file mode must not be set');
    });

    it('serves the broker on HTTP 8080 and gRPC 9620 through a Service', () => {
      const c = container(defaults, 'broker');
      assert.equal(envValue(c, 'HERALD_HTTP_PORT'), '8080');
      assert.equal(envValue(c, 'HERALD_GRPC_PORT'), '9620');
      assert.equal(envValue(c, 'HERALD_PUBLIC_REGISTRY'), 'false');
      const service = find(defaults, 'Service', 'herald-broker');
      const spec = service.spec as {
        selector: Record<string, string>;
        ports: { name: string; port: number; targetPort: string }[];
      };
      assert.deepEqual(
        spec.ports.map((p) => [p.name, p.port, p.targetPort]),
        [
          ['http', 8080, 'http'],
          ['grpc', 9620, 'grpc'],
        ],
      );
      const podLabels = deployment(defaults, 'broker').spec.template.metadata.labels;
      for (const [key, value] of Object.entries(spec.selector)) {
        assert.equal(podLabels[key], value, `Service selector ${key} matches the broker pods`);
      }
      for (const p of spec.ports) {
        assert.ok(
          c.ports?.some((cp) => cp.name === p.targetPort),
          `broker declares ${p.targetPort}`,
        );
      }
    });

    it('keeps the dispatcher off private networks: no private sinks, pod/service CIDRs blocked', () => {
      const c = container(defaults, 'dispatcher');
      assert.equal(envValue(c, 'HERALD_ALLOW_PRIVATE_SINKS'), 'false');
      assert.equal(envValue(c, 'HERALD_BLOCKED_CIDRS'), '10.244.0.0/16,10.96.0.0/12');
      assert.equal(envValue(c, 'HERALD_METRICS_PORT'), '9090');
      for (const component of COMPONENTS) {
        const cc = container(defaults, component);
        assert.ok(!(cc.args ?? []).includes('--allow-private-sinks'), component);
        assert.notEqual(envValue(cc, 'HERALD_ALLOW_PRIVATE_SINKS'), 'true', component);
      }
    });

    it('grants the operator exactly the Kubernetes access it needs, in its ClusterRole and Role', () => {
      const key = (r: Rule): string =>
        [
          r.apiGroups.map((g) => g || 'core').join(','),
          sorted(r.resources).join(','),
          sorted(r.verbs).join(','),
        ].join('|');
      const clusterRole = find(defaults, 'ClusterRole', 'herald-operator');
      assert.deepEqual(sorted((clusterRole.rules ?? []).map(key)), [
        'core|events|create,patch',
        'core|secrets|get,list,watch',
        'events.k8s.io|events|create,patch',
        'herald.dev|eventtypes,producers,subscriptions|get,list,patch,update,watch',
        'herald.dev|eventtypes/finalizers,producers/finalizers,subscriptions/finalizers|update',
        'herald.dev|eventtypes/status,producers/status,subscriptions/status|patch,update',
      ]);
      const role = find(defaults, 'Role', 'herald-operator');
      assert.equal(role.metadata.namespace, NAMESPACE);
      assert.deepEqual((role.rules ?? []).map(key), [
        'coordination.k8s.io|leases|create,get,update',
      ]);

      const operatorSa = deployment(defaults, 'operator').spec.template.spec.serviceAccountName;
      const bindings = defaults.filter(
        (o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding',
      );
      assert.deepEqual(
        sorted(bindings.map((b) => `${b.kind}->${b.roleRef?.kind}/${b.roleRef?.name}`)),
        ['ClusterRoleBinding->ClusterRole/herald-operator', 'RoleBinding->Role/herald-operator'],
      );
      for (const b of bindings) {
        assert.deepEqual(b.subjects, [
          { kind: 'ServiceAccount', name: operatorSa, namespace: NAMESPACE },
        ]);
      }
    });

    it('gives broker and dispatcher pods no API token: only the operator talks to Kubernetes', () => {
      for (const component of ['broker', 'dispatcher'] as const) {
        const pod = deployment(defaults, component).spec.template.spec;
        assert.equal(pod.automountServiceAccountToken, false, component);
        assert.notEqual(pod.serviceAccountName, 'default', component);
        const sa = find(defaults, 'ServiceAccount', pod.serviceAccountName);
        assert.equal(sa.automountServiceAccountToken, false, `${component} ServiceAccount`);
      }
      const operator = deployment(defaults, 'operator').spec.template.spec;
      assert.equal(operator.automountServiceAccountToken, true);
    });

    it('generates a 32-byte config key, kept on uninstall, mounted read-only in every pod', () => {
      const secret = find(defaults, 'Secret', 'herald-config-key');
      assert.equal(secret.metadata.annotations?.['helm.sh/resource-policy'], 'keep');
      const keyOf = (s: K8sObject): string =>
        Buffer.from(s.data?.['config-key'] ?? '', 'base64').toString('utf8');
      assert.equal(parseConfigKey(keyOf(secret)).length, 32, 'the key the herald CLI loads');
      const [other] = objectsOf(runs.freshKey);
      assert.ok(other);
      assert.notEqual(keyOf(other), keyOf(secret), 'every new installation gets its own key');

      for (const component of COMPONENTS) {
        const pod = deployment(defaults, component).spec.template.spec;
        const c = container(defaults, component);
        const volume = pod.volumes?.find((v) => v.secret?.secretName === 'herald-config-key');
        assert.ok(volume, `${component} mounts the config key Secret`);
        const mount = c.volumeMounts?.find((m) => m.name === volume.name);
        assert.ok(mount, `${component} mounts volume ${volume.name}`);
        assert.equal(mount.readOnly, true, `${component} mounts it read-only`);
        assert.equal(envValue(c, 'HERALD_CONFIG_KEY_FILE'), `${mount.mountPath}/config-key`);
      }
    });

    it('hardens every pod: non-root, read-only root fs, no capabilities, seccomp, resources', () => {
      for (const component of COMPONENTS) {
        const pod = deployment(defaults, component).spec.template.spec;
        assert.equal(pod.securityContext?.runAsNonRoot, true, component);
        assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', component);
        for (const c of pod.containers) {
          assert.equal(c.securityContext?.readOnlyRootFilesystem, true, component);
          assert.equal(c.securityContext?.allowPrivilegeEscalation, false, component);
          assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], component);
          assert.equal(c.securityContext?.capabilities?.add, undefined, component);
          for (const r of ['cpu', 'memory']) {
            assert.ok(c.resources?.requests?.[r], `${component} requests ${r}`);
            assert.ok(c.resources?.limits?.[r], `${component} limits ${r}`);
          }
        }
      }
    });

    it('probes /healthz (liveness) and /readyz (readiness) on the port each component serves', () => {
      const expected: Record<Component, number> = {
        operator: 9090,
        broker: 8080,
        dispatcher: 9090,
      };
      for (const component of COMPONENTS) {
        const c = container(defaults, component);
        assert.equal(c.livenessProbe?.httpGet.path, '/healthz', component);
        assert.equal(c.readinessProbe?.httpGet.path, '/readyz', component);
        assert.equal(probePort(c, c.livenessProbe), expected[component], component);
        assert.equal(probePort(c, c.readinessProbe), expected[component], component);
      }
    });

    it('keeps brokers and dispatchers up through node drains and spreads brokers over nodes', () => {
      for (const component of ['broker', 'dispatcher'] as const) {
        const pdb = find(defaults, 'PodDisruptionBudget', `herald-${component}`);
        assert.equal(pdb.apiVersion, 'policy/v1');
        const spec = pdb.spec as { maxUnavailable: number; selector: { matchLabels: unknown } };
        assert.equal(spec.maxUnavailable, 1);
        assert.deepEqual(
          spec.selector.matchLabels,
          deployment(defaults, component).spec.selector.matchLabels,
        );
      }
      const spread = deployment(defaults, 'broker').spec.template.spec.topologySpreadConstraints;
      const byHost = spread?.find((t) => t.topologyKey === 'kubernetes.io/hostname');
      assert.ok(byHost, 'brokers spread over nodes');
      assert.equal(byHost.labelSelector?.matchLabels?.['app.kubernetes.io/component'], 'broker');
    });

    it('annotates pods for Prometheus; Ingress, ServiceMonitor, NetworkPolicy are off', () => {
      const ports: Record<Component, string> = {
        operator: '9090',
        broker: '8080',
        dispatcher: '9090',
      };
      for (const component of COMPONENTS) {
        const annotations = deployment(defaults, component).spec.template.metadata.annotations;
        assert.equal(annotations?.['prometheus.io/scrape'], 'true', component);
        assert.equal(annotations?.['prometheus.io/port'], ports[component], component);
        assert.equal(annotations?.['prometheus.io/path'], '/metrics', component);
      }
      const kinds = new Set(defaults.map((o) => o.kind));
      for (const kind of [
        'Ingress',
        'ServiceMonitor',
        'NetworkPolicy',
        'HorizontalPodAutoscaler',
      ]) {
        assert.ok(!kinds.has(kind), `${kind} rendered by default`);
      }
    });

    it('NOTES tell how to apply examples/ and read their status', () => {
      assert.equal(runs.installDryRun.status, 0, runs.installDryRun.stderr);
      const out = runs.installDryRun.stdout;
      const notes = out.slice(out.indexOf('NOTES:'));
      assert.match(notes, /kubectl apply -f examples\//);
      assert.match(notes, /kubectl get herald -A/);
    });
  });

  describe('refusing bad values', () => {
    it('fails without nats.url, saying which value to set', () => {
      assert.notEqual(runs.noNatsUrl.status, 0);
      assert.match(runs.noNatsUrl.stderr, /nats\.url is required/);
      assert.match(runs.noNatsUrl.stderr, /--set nats\.url=nats:\/\//);
    });

    it('refuses a value of the wrong type (values.schema.json): broker.replicas=two', () => {
      assert.notEqual(runs.wrongType.status, 0);
      assert.match(runs.wrongType.stderr, /\/broker\/replicas.*want integer/);
    });

    it('refuses a misspelt value instead of ignoring it: dispatcher.allowPrivateSink', () => {
      assert.notEqual(runs.misspelt.status, 0);
      assert.match(runs.misspelt.stderr, /additional properties 'allowPrivateSink' not allowed/);
    });

    it('refuses two operator replicas without leader election', () => {
      assert.notEqual(runs.noLeaderElection.status, 0);
      assert.match(
        runs.noLeaderElection.stderr,
        /operator\.leaderElect=false needs operator\.replicas=1/,
      );
    });
  });

  describe('with custom values', () => {
    it('honours replicas, leader election, image and pull secrets', () => {
      assert.equal(deployment(custom, 'broker').spec.replicas, 5);
      assert.equal(deployment(custom, 'dispatcher').spec.replicas, 3);
      assert.equal(deployment(custom, 'operator').spec.replicas, 1);
      assert.equal(envValue(container(custom, 'operator'), 'HERALD_LEADER_ELECT'), 'false');
      for (const component of COMPONENTS) {
        assert.equal(container(custom, component).image, 'registry.example/herald:1.2.3');
        const pod = deployment(custom, component).spec.template.spec as PodSpec & {
          imagePullSecrets?: { name: string }[];
        };
        assert.deepEqual(pod.imagePullSecrets, [{ name: 'pull' }], component);
      }
    });

    it('mounts an existing config key Secret instead of generating one', () => {
      assert.ok(!custom.some((o) => o.kind === 'Secret'), 'no Secret generated');
      for (const component of COMPONENTS) {
        const volumes = deployment(custom, component).spec.template.spec.volumes ?? [];
        assert.ok(
          volumes.some((v) => v.secret?.secretName === 'my-herald-key'),
          component,
        );
      }
    });

    it('exposes the broker HTTP API through an Ingress', () => {
      const ingress = find(custom, 'Ingress', 'herald-broker');
      const spec = ingress.spec as {
        ingressClassName: string;
        tls: { secretName: string }[];
        rules: {
          host: string;
          http: {
            paths: { path: string; backend: { service: { name: string; port: unknown } } }[];
          };
        }[];
      };
      assert.equal(spec.ingressClassName, 'nginx');
      assert.equal(spec.tls[0]?.secretName, 'events-tls');
      assert.equal(spec.rules[0]?.host, 'events.acme.example');
      assert.equal(spec.rules[0]?.http.paths[0]?.path, '/');
      assert.deepEqual(spec.rules[0]?.http.paths[0]?.backend.service, {
        name: 'herald-broker',
        port: { name: 'http' },
      });
    });

    it('mounts NATS credentials read-only and passes extra env', () => {
      for (const component of COMPONENTS) {
        const c = container(custom, component);
        const pod = deployment(custom, component).spec.template.spec;
        const volume = pod.volumes?.find((v) => v.secret?.secretName === 'herald-nats');
        assert.ok(volume, component);
        const mount = c.volumeMounts?.find((m) => m.name === volume.name);
        assert.equal(mount?.readOnly, true, component);
        assert.equal(envValue(c, 'NATS_CREDS_FILE'), `${mount?.mountPath}/nats.creds`);
      }
      assert.equal(
        envValue(container(custom, 'dispatcher'), 'HERALD_ALLOWED_CIDRS'),
        'hooks.internal',
      );
    });

    it('adds a ServiceMonitor covering all three components, and NetworkPolicies', () => {
      const monitor = find(custom, 'ServiceMonitor', 'herald');
      const spec = monitor.spec as {
        selector: { matchLabels: Record<string, string> };
        endpoints: { port: string }[];
      };
      const selected = custom.filter(
        (o) =>
          o.kind === 'Service' &&
          Object.entries(spec.selector.matchLabels).every(([k, v]) => o.metadata.labels?.[k] === v),
      );
      const scraped = selected.flatMap((svc) => {
        const ports = (svc.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
        return spec.endpoints.some((e) => ports.includes(e.port))
          ? [svc.metadata.labels?.['app.kubernetes.io/component']]
          : [];
      });
      assert.deepEqual(sorted(scraped.map(String)), ['broker', 'dispatcher', 'operator']);
      assert.equal(custom.filter((o) => o.kind === 'NetworkPolicy').length, 3);
    });
  });

  it("ships exactly the repository's CRDs, byte for byte (copy them after `npm run gen:crds`)", () => {
    const repoCrds = join(REPO_ROOT, 'crds');
    const chartCrds = join(CHART, 'crds');
    const yamlFiles = (dir: string): string[] =>
      sorted(readdirSync(dir).filter((f) => f.endsWith('.yaml') || f.endsWith('.yml')));
    assert.deepEqual(sorted(readdirSync(chartCrds)), yamlFiles(repoCrds));
    for (const file of yamlFiles(repoCrds)) {
      assert.ok(
        readFileSync(join(chartCrds, file)).equals(readFileSync(join(repoCrds, file))),
        `charts/herald/crds/${file} differs from crds/${file}: cp crds/*.yaml charts/herald/crds/`,
      );
    }
    assert.deepEqual(
      sorted(
        defaults.filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name),
      ),
      ['eventtypes.herald.dev', 'producers.herald.dev', 'subscriptions.herald.dev'],
    );
  });
});

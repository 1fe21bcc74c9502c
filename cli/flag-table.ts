/**
 * The flags of DESIGN.md §6, each with its env var and default, in one table (the attempt-log
 * ones come from attempt-log-flags.ts). Parsing them is flags.ts's.
 */
import { ATTEMPT_LOG_FLAGS } from './attempt-log-flags.js';
import { DEFAULT_SINK_PORT } from './demo-sink.js';

export interface FlagSpec {
  env?: string;
  type: 'string' | 'boolean';
  default?: string | boolean;
  help: string;
  /** Repeatable (`--id a --id b`): its value is every one given, in order. No env var. */
  multiple?: boolean;
}

export const FLAGS = {
  resources: {
    env: 'HERALD_RESOURCES',
    type: 'string',
    help: 'directory of YAML resources (file mode)',
  },
  'http-port': {
    env: 'HERALD_HTTP_PORT',
    type: 'string',
    default: '8080',
    help: 'broker HTTP port',
  },
  'grpc-port': {
    env: 'HERALD_GRPC_PORT',
    type: 'string',
    default: '9620',
    help: 'broker gRPC port (see docs/grpc.md; 0 = any free port)',
  },
  nats: { env: 'NATS_URL', type: 'string', help: 'NATS server URL, e.g. nats://127.0.0.1:4222' },
  'nats-creds': {
    env: 'NATS_CREDS_FILE',
    type: 'string',
    help: 'NATS credentials file (user JWT + nkey seed, as nsc writes it); re-read on reconnect',
  },
  'nats-tls-ca': {
    env: 'NATS_TLS_CA_FILE',
    type: 'string',
    help: 'CA certificate(s) that signed the NATS server’s certificate (PEM)',
  },
  'nats-tls-cert': {
    env: 'NATS_TLS_CERT_FILE',
    type: 'string',
    help: 'client certificate for mutual TLS with NATS (PEM); needs --nats-tls-key',
  },
  'nats-tls-key': {
    env: 'NATS_TLS_KEY_FILE',
    type: 'string',
    help: 'private key of --nats-tls-cert (PEM)',
  },
  'nats-port': {
    env: 'HERALD_NATS_PORT',
    type: 'string',
    default: '4222',
    help: 'port of the local nats-server that `run` starts (when --nats is not given)',
  },
  'sink-port': {
    env: 'HERALD_SINK_PORT',
    type: 'string',
    default: String(DEFAULT_SINK_PORT),
    help: `demo sink port (the example Subscription delivers to ${DEFAULT_SINK_PORT})`,
  },
  port: {
    env: 'HERALD_SINK_PORT',
    type: 'string',
    default: String(DEFAULT_SINK_PORT),
    help: 'port to listen on',
  },
  'data-dir': {
    env: 'HERALD_DATA_DIR',
    type: 'string',
    default: '.herald',
    help: 'local state (NATS store, config key)',
  },
  'allow-private-sinks': {
    env: 'HERALD_ALLOW_PRIVATE_SINKS',
    type: 'boolean',
    help: 'allow webhooks on loopback/private/link-local/CGNAT addresses (never metadata)',
  },
  'blocked-cidrs': {
    env: 'HERALD_BLOCKED_CIDRS',
    type: 'string',
    help: 'comma-separated CIDRs webhooks may never reach, e.g. the pod and service ranges',
  },
  'allowed-cidrs': {
    env: 'HERALD_ALLOWED_CIDRS',
    type: 'string',
    help: 'comma-separated CIDRs, IPs or host names webhooks may reach even when private',
  },
  'webhook-origin': {
    env: 'HERALD_WEBHOOK_ORIGIN',
    type: 'string',
    help: 'DNS name sent as WebHook-Request-Origin in the webhook validation handshake (default herald)',
  },
  'attempts-log': {
    env: 'HERALD_ATTEMPTS_LOG',
    type: 'string',
    default: 'true',
    help: 'record every delivery attempt in HERALD_ATTEMPTS, for `herald attempts` (true|false)',
  },
  kubeconfig: {
    env: 'KUBECONFIG',
    type: 'string',
    help: 'kubeconfig file (default: the pod’s service account, else ~/.kube/config)',
  },
  'leader-elect': {
    env: 'HERALD_LEADER_ELECT',
    type: 'string',
    default: 'true',
    help: 'hold a coordination.k8s.io Lease so that one operator replica reconciles (true|false)',
  },
  'lease-namespace': {
    env: 'HERALD_NAMESPACE',
    type: 'string',
    default: 'default',
    help: 'namespace of the leader election Lease (the chart sets the pod’s namespace)',
  },
  'lease-duration': {
    env: 'HERALD_LEASE_DURATION',
    type: 'string',
    default: '15s',
    help: 'how long a leader’s Lease holds without renewal',
  },
  'resync-interval': {
    env: 'HERALD_RESYNC_INTERVAL',
    type: 'string',
    default: '5m',
    help: 'reconcile every resource this often, repairing drift in JetStream',
  },
  'metrics-port': {
    env: 'HERALD_METRICS_PORT',
    type: 'string',
    default: '9090',
    help: 'port serving /metrics, /healthz and /readyz (0 = any free port)',
  },
  'system-replicas': {
    env: 'HERALD_SYSTEM_REPLICAS',
    type: 'string',
    default: '1',
    help: 'replicas (1-5) of Herald’s system streams and KV buckets; the NATS cluster size, e.g. 3',
  },
  ...ATTEMPT_LOG_FLAGS,
  'config-key-file': {
    env: 'HERALD_CONFIG_KEY_FILE',
    type: 'string',
    help: 'file holding the 32-byte config sealing key (hex or base64); or set HERALD_CONFIG_KEY',
  },
  secret: {
    env: 'HERALD_SINK_SECRET',
    type: 'string',
    help: 'signing secret (whsec_…) to verify deliveries with',
  },
  'log-level': { env: 'HERALD_LOG_LEVEL', type: 'string', help: 'trace|debug|info|warn|error' },
  'max-body-bytes': {
    env: 'HERALD_MAX_BODY_BYTES',
    type: 'string',
    default: '1Mi',
    help: 'broker request body limit: bytes, or with a Ki/Mi suffix',
  },
  'public-registry': {
    env: 'HERALD_PUBLIC_REGISTRY',
    type: 'boolean',
    help: 'serve /eventtypes and /asyncapi.json without credentials, listing every type',
  },
  subscription: {
    type: 'string',
    help: 'the Subscription, as NAMESPACE/NAME',
  },
  since: {
    type: 'string',
    help: 'only records at or after this time: RFC 3339, or a duration ago like 15m, 2h',
  },
  limit: { type: 'string', default: '100', help: 'at most this many records' },
  json: { type: 'boolean', help: 'print one JSON object per line instead of a table' },
  id: {
    type: 'string',
    multiple: true,
    help: 'only the dead letters of events with this CloudEvents id, taken whole',
  },
  source: {
    type: 'string',
    help: 'only events from this CloudEvents source (an id is unique per source)',
  },
  yes: { type: 'boolean', help: 'purge: really delete (without it: show what would go)' },
  help: { type: 'boolean', help: 'show this help' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

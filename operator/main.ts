/**
 * The operator in file mode: load the resource directory, compile it, write the config to KV
 * `herald-config`, make JetStream match; again on every change of the files. Applies are
 * serialized (a change during an apply triggers exactly one more afterwards). NATS failures
 * are logged and retried with backoff; they never escape the watcher. Options come from the
 * CLI: nothing here reads env vars or flags.
 */
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  openConfigBucket,
  readConfigEntries,
  writeCompiledConfig,
  type ConfigWriteResult,
} from '../core/config/kv.js';
import {
  CONFIG_FORMAT,
  type CompiledConfig,
  type CompiledEntry,
  type CompiledEventType,
  type CompiledProducer,
  type CompiledSubscription,
} from '../core/config/model.js';
import { ErrorCode, HeraldError } from '../core/errors.js';
import type { Logger } from '../core/logging.js';
import { buildNatsConnectOptions, type NatsAuth } from '../core/nats-connect-options.js';
import { ConfigKeyPrefix, parseConfigKey } from '../core/topology.js';
import {
  compileResources,
  Severity,
  typeOwnersOf,
  type ResourceProblem,
  type TypeOwners,
} from './compile.js';
import {
  loadResourceDirectory,
  resourceKeyOf,
  watchResourceDirectory,
  FileProblemReason,
  type FileProblem,
} from './files.js';
import {
  ensureTopology,
  isReportEmpty,
  mergeReports,
  pruneTopology,
  type ApplyReport,
} from './jetstream-apply.js';
import type { AttemptLogLimits, DeletionPolicy } from './jetstream-config.js';

export interface OperatorOptions {
  natsUrl: string;
  /** NATS credentials and TLS files; none = connect with the URL alone. */
  natsAuth?: NatsAuth;
  resourcesDir: string;
  /** The installation's 32-byte key that seals secret material in the config. */
  configKey: Buffer;
  logger: Logger;
  /** Re-apply when the files change (default false: apply once, and on applyNow()). */
  watch?: boolean;
  /** Quiet time after a file change before applying (default 200 ms). */
  debounceMs?: number;
  /** Re-apply this often even without changes, restoring drift made behind Herald's back (default 5 min; 0 = never). */
  resyncMs?: number;
  /** Timeout of each JetStream API request (default 5 s, the client's). */
  requestTimeoutMs?: number;
  /** Backoff after a failed apply: doubles from initialMs up to maxMs (default 1 s → 30 s). */
  retry?: { initialMs?: number; maxMs?: number };
  /** Replicas of the system streams and KV buckets, kept on every apply (default 1). */
  systemReplicas?: number;
  /** Limits of HERALD_ATTEMPTS, kept on every apply (default SystemStreamLimits.attempts). */
  attemptLog?: AttemptLogLimits;
}

/** A compile or file problem, with the file it came from when known. */
export interface OperatorProblem {
  reason: string;
  severity: 'error' | 'warning';
  message: string;
  file?: string;
  line?: number;
  kind?: string;
  namespace?: string;
  name?: string;
  path?: string;
}

export interface OperatorApplyResult {
  config: CompiledConfig;
  problems: OperatorProblem[];
  kv: ConfigWriteResult;
  topology: ApplyReport;
  /** False when the apply wrote nothing to KV and changed nothing in JetStream. */
  changed: boolean;
}

export interface OperatorEvents {
  applied: [OperatorApplyResult];
  'apply-failed': [unknown];
}

export interface RunningOperator extends EventEmitter<OperatorEvents> {
  /** Applies now (or right after the running apply) and resolves with that apply's result. */
  applyNow(): Promise<OperatorApplyResult>;
  stop(): Promise<void>;
}

/**
 * The config currently in the bucket: what the previous apply wrote. Read only to seed which
 * EventType owns each CloudEvents type when this process has not compiled anything yet.
 */
async function readCompiledConfig(kv: KV): Promise<CompiledConfig> {
  const config: CompiledConfig = { eventTypes: [], producers: [], subscriptions: [] };
  for (const [key, text] of await readConfigEntries(kv)) {
    const parsed = parseConfigKey(key);
    let entry: CompiledEntry;
    try {
      entry = JSON.parse(text) as CompiledEntry;
    } catch {
      continue; // not ours to judge; the next write replaces it
    }
    if (!parsed || entry.format !== CONFIG_FORMAT) continue;
    switch (parsed.prefix) {
      case ConfigKeyPrefix.EventType:
        config.eventTypes.push(entry as CompiledEventType);
        break;
      case ConfigKeyPrefix.Producer:
        config.producers.push(entry as CompiledProducer);
        break;
      case ConfigKeyPrefix.Subscription:
        config.subscriptions.push(entry as CompiledSubscription);
        break;
    }
  }
  return config;
}

function fromFileProblem(p: FileProblem): OperatorProblem {
  return { ...p, severity: Severity.Error };
}

function fromResourceProblem(p: ResourceProblem, origins: Map<string, string>): OperatorProblem {
  const file = origins.get(resourceKeyOf(p.kind, p.namespace, p.name));
  return { ...(file !== undefined && { file }), ...p };
}

/**
 * One structured line per problem. The resource goes under `resource`: pino's own `name`
 * field (the logger's) would otherwise collide with the resource name.
 */
function problemLogFields(p: OperatorProblem): Record<string, unknown> {
  const { message: _message, kind, namespace, name, ...rest } = p;
  const resource = kind === undefined && name === undefined ? undefined : { kind, namespace, name };
  return { ...rest, ...(resource && { resource }) };
}

/** `file:line Kind ns/name: path: message`, for people reading the log. */
export function describeProblem(p: OperatorProblem): string {
  const where = p.file ? `${p.file}${p.line ? `:${p.line}` : ''} ` : '';
  const who =
    p.kind || p.name
      ? `${p.kind ?? 'resource'} ${p.namespace ? `${p.namespace}/` : ''}${p.name ?? '?'}: `
      : '';
  return `${where}${who}${p.path ? `${p.path}: ` : ''}${p.message}`;
}

class FileModeOperator extends EventEmitter<OperatorEvents> implements RunningOperator {
  private running: Promise<OperatorApplyResult> | undefined;
  private queued: Promise<OperatorApplyResult> | undefined;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private stopWatching: (() => void) | undefined;
  private stopped = false;
  /** Who owned each CloudEvents type at the last compile; seeded from KV on the first apply. */
  private typeOwners: TypeOwners | undefined;
  /**
   * deletionPolicy of every EventType stream this process compiled, kept after the EventType
   * vanishes, until its stream is gone: a failed apply's pending deletion is not forgotten.
   * Streams also carry it in their description, which is what a restarted operator reads.
   */
  private readonly deletionPolicies = new Map<string, DeletionPolicy>();
  /** Retained streams of vanished EventTypes already reported (once per process). */
  private readonly reportedKept = new Set<string>();

  constructor(
    private readonly options: OperatorOptions,
    private readonly log: Logger,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
  ) {
    super();
  }

  applyNow(): Promise<OperatorApplyResult> {
    if (this.stopped) return Promise.reject(stoppedError());
    if (this.queued) return this.queued; // one apply after the running one covers every request
    if (this.running) {
      this.queued = this.running
        .catch(() => undefined)
        .then(() => {
          this.queued = undefined;
          if (this.stopped) throw stoppedError();
          return this.startApply();
        });
      return this.queued;
    }
    return this.startApply();
  }

  /** For triggers that nobody awaits (file changes, retries, resync, reconnects). */
  requestApply(trigger: string): void {
    if (this.stopped) return;
    this.log.debug({ trigger }, 'apply requested');
    this.applyNow().catch(() => undefined); // already logged, and a retry is scheduled
  }

  private startApply(): Promise<OperatorApplyResult> {
    const run = this.applyOnce().then(
      (result) => {
        this.failures = 0;
        this.emit('applied', result);
        return result;
      },
      (err: unknown) => {
        this.scheduleRetry(err);
        this.emit('apply-failed', err);
        throw err;
      },
    );
    this.running = run.finally(() => (this.running = undefined));
    this.running.catch(() => undefined);
    return run;
  }

  private scheduleRetry(err: unknown): void {
    if (this.stopped) return;
    const { initialMs = 1_000, maxMs = 30_000 } = this.options.retry ?? {};
    const delayMs = Math.min(maxMs, initialMs * 2 ** this.failures);
    this.failures += 1;
    this.log.error(
      { err, retryInMs: delayMs, failures: this.failures },
      'apply failed; will retry',
    );
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.requestApply('retry'), delayMs);
  }

  /**
   * One apply, in the order that keeps brokers and dispatchers safe: create and update streams
   * and consumers first, then write the config to KV (so no broker accepts a type whose stream
   * does not exist, and no dispatcher looks for a consumer that is not there), and delete what
   * is no longer wanted last (found in JetStream, so a failed apply's deletions are retried).
   */
  private async applyOnce(): Promise<OperatorApplyResult> {
    const dir = await loadResourceDirectory(this.options.resourcesDir);
    for (const s of dir.skipped)
      this.log.debug({ ...s }, 'document skipped: not a kind Herald reads');
    const previousTypeOwners = this.typeOwners ?? typeOwnersOf(await readCompiledConfig(this.kv));
    const compiled = compileResources(
      { resources: dir.resources, secrets: dir.secrets, previousTypeOwners },
      { configKey: this.options.configKey },
    );
    const { config, problems: compileProblems } = compiled;
    this.typeOwners = compiled.typeOwners;
    for (const et of config.eventTypes) {
      this.deletionPolicies.set(et.stream, et.deletionPolicy ?? 'Retain');
    }
    const problems = [
      ...dir.errors.map(fromFileProblem),
      ...compileProblems.map((p) => fromResourceProblem(p, dir.origins)),
    ];
    for (const p of problems) this.log.warn(problemLogFields(p), describeProblem(p));

    const ensured = await ensureTopology(this.jsm, config, {
      logger: this.log,
      systemReplicas: this.options.systemReplicas ?? 1,
      ...(this.options.attemptLog && { attemptLog: this.options.attemptLog }),
    });
    const kv = await writeCompiledConfig(this.kv, config);
    const leftOutOf = (kind: string): string[] =>
      problems
        .filter((p) => p.kind === kind && p.severity === Severity.Error && p.name !== undefined)
        .map((p) => `${p.namespace}/${p.name}`);
    // A file that could not be parsed hides which resources it holds: delete nothing then.
    const unreadable = dir.errors.some(
      (e) =>
        e.reason === FileProblemReason.InvalidYaml || e.reason === FileProblemReason.ReadFailed,
    );
    const pruned = await pruneTopology(this.jsm, config, {
      logger: this.log,
      leftOut: { eventTypes: leftOutOf('EventType'), subscriptions: leftOutOf('Subscription') },
      prune: !unreadable,
      deletionPolicies: this.deletionPolicies,
      reportedKept: this.reportedKept,
    });
    for (const d of pruned.deleted) {
      if (d.object === 'stream') this.deletionPolicies.delete(d.stream);
    }
    const topology = mergeReports(ensured, pruned);
    const changed = kv.put.length + kv.deleted.length > 0 || !isReportEmpty(topology);
    const summary = {
      eventTypes: config.eventTypes.length,
      producers: config.producers.length,
      subscriptions: config.subscriptions.length,
      problems: problems.length,
      kvPut: kv.put,
      kvDeleted: kv.deleted,
    };
    if (changed) this.log.info(summary, 'config applied');
    else this.log.debug(summary, 'config unchanged');
    return { config, problems, kv, topology, changed };
  }

  start(): void {
    const { watch = false, resyncMs = 300_000 } = this.options;
    if (watch) this.tryWatchFiles();
    if (resyncMs > 0) {
      this.resyncTimer = setInterval(() => this.requestApply('resync'), resyncMs);
      this.resyncTimer.unref();
    }
    // After a reconnect the server may have lost state (a restart without its store): re-apply.
    void (async () => {
      for await (const s of this.nc.status())
        if (s.type === 'reconnect') this.requestApply('reconnect');
    })().catch((err: unknown) => this.log.warn({ err }, 'status watch ended'));
  }

  private watchFiles(): void {
    const { debounceMs } = this.options;
    this.stopWatching = watchResourceDirectory(
      this.options.resourcesDir,
      () => this.requestApply('files'),
      { ...(debounceMs !== undefined && { debounceMs }), onError: (err) => this.onWatchError(err) },
    );
  }

  private onWatchError(err: Error): void {
    // The directory vanished or was replaced: watch again once it can be read.
    this.log.error({ err }, 'watching the resource directory failed; retrying');
    this.stopWatching?.();
    this.stopWatching = undefined;
    if (this.stopped) return;
    setTimeout(() => {
      this.tryWatchFiles();
      // Whatever changed while nobody watched is picked up by one apply.
      if (this.stopWatching) this.requestApply('rewatch');
    }, 1_000).unref();
  }

  private tryWatchFiles(): void {
    if (this.stopped || this.stopWatching) return;
    try {
      this.watchFiles();
    } catch (err) {
      this.onWatchError(err as Error);
    }
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.stopWatching?.();
    clearTimeout(this.retryTimer);
    clearInterval(this.resyncTimer);
    await this.queued?.catch(() => undefined);
    await this.running?.catch(() => undefined);
    await this.nc.drain().catch(() => this.nc.close());
  }
}

function stoppedError(): HeraldError {
  return new HeraldError(ErrorCode.OperatorStopped, 'the operator is stopped');
}

/**
 * Connects, opens the config bucket, applies once, then (with `watch`) re-applies on every
 * change. Rejects when the directory is not readable or NATS cannot be reached at start; a
 * failed first apply is logged and retried, not thrown.
 */
export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const log = options.logger.child({ mode: 'file', resources: options.resourcesDir });
  const info = await stat(options.resourcesDir).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw new HeraldError(
      ErrorCode.Usage,
      `the resources directory ${options.resourcesDir} does not exist`,
    );
  }
  const nc = await connect({
    servers: options.natsUrl,
    ...buildNatsConnectOptions(options.natsAuth),
    name: 'herald-operator',
    maxReconnectAttempts: -1,
  });
  let operator: FileModeOperator;
  try {
    const timeout = { ...(options.requestTimeoutMs && { timeout: options.requestTimeoutMs }) };
    const jsm = await jetstreamManager(nc, timeout);
    const kv = await openConfigBucket(jetstream(nc, timeout), options.systemReplicas ?? 1);
    operator = new FileModeOperator(options, log, nc, jsm, kv);
  } catch (err) {
    await nc.close();
    throw err;
  }
  operator.start();
  await operator.applyNow().catch(() => undefined);
  return operator;
}

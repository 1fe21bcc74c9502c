/**
 * `herald operator`: the file mode with `--resources DIR`, else the Kubernetes mode (like
 * kubectl: --kubeconfig, or the pod's service account, or KUBECONFIG / ~/.kube/config), with
 * leader election and /metrics on --metrics-port.
 */
import { createLogger } from '../core/logging.js';
import { parseDuration } from '../core/duration.js';
import { startKubeOperator } from '../operator/kube/kube-operator.js';
import { startOperator } from '../operator/main.js';
import { readAttemptLogLimits } from './attempt-log-flags.js';
import { loadConfigKey } from './config-key.js';
import { readIntegerInRange, readPort, readSwitch, type FlagValues } from './flags.js';
import { startMetricsServer } from './metrics-server.js';
import { natsAuthOption } from './nats-auth-args.js';

export async function startOperatorCommand(
  values: FlagValues,
  env: NodeJS.ProcessEnv,
  natsUrl: string,
  level: string,
): Promise<() => Promise<void>> {
  // JetStream allows 1 to 5 replicas; these are checked before anything connects.
  const systemReplicas = readIntegerInRange(values, 'system-replicas', 1, 5);
  const attemptLog = readAttemptLogLimits(values);
  const configKey = loadConfigKey(
    env.HERALD_CONFIG_KEY,
    values['config-key-file'] as string | undefined,
  );
  const logger = createLogger('operator', { level });
  if (typeof values.resources === 'string') {
    const op = await startOperator({
      natsUrl,
      ...natsAuthOption(values),
      resourcesDir: values.resources,
      configKey,
      logger,
      watch: true,
      systemReplicas,
      attemptLog,
    });
    return () => op.stop();
  }
  const leaseDuration = parseDuration(String(values['lease-duration']));
  const op = await startKubeOperator({
    natsUrl,
    ...natsAuthOption(values),
    configKey,
    logger,
    ...(typeof values.kubeconfig === 'string' &&
      values.kubeconfig && { kubeconfigPath: values.kubeconfig }),
    leaderElection: readSwitch(values, 'leader-elect')
      ? {
          namespace: String(values['lease-namespace']),
          leaseDurationMs: leaseDuration,
          // client-go's proportions: renew deadline 2/3, retry period 2/15 of the lease.
          renewDeadlineMs: Math.floor((leaseDuration * 2) / 3),
          retryPeriodMs: Math.max(100, Math.floor((leaseDuration * 2) / 15)),
        }
      : false,
    resyncMs: parseDuration(String(values['resync-interval'])),
    systemReplicas,
    attemptLog,
  });
  const metrics = await startMetricsServer({
    port: readPort(values, 'metrics-port'),
    registries: () => [op.registry],
  });
  return async () => {
    await op.stop();
    await metrics.stop();
  };
}

/** The Kubernetes-mode operator's Prometheus metrics, in a registry it owns. */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export const ReconcileResult = { Success: 'success', Error: 'error' } as const;

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<'kind' | 'result'>;
  reconcileDuration: Histogram<'kind'>;
  queueDepth: Gauge;
  /** From a resource's creation (or spec change) to its first Ready=True at that generation. */
  timeToReady: Histogram<'kind'>;
  leader: Gauge;
}

export function createOperatorMetrics(depth: () => number): OperatorMetrics {
  const registry = new Registry();
  return {
    registry,
    reconciles: new Counter({
      name: 'herald_operator_reconciles_total',
      help: 'Reconcile passes by kind and result',
      labelNames: ['kind', 'result'],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'herald_operator_reconcile_duration_seconds',
      help: 'Duration of one reconcile pass',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'herald_operator_queue_depth',
      help: 'Keys waiting in the work queue',
      registers: [registry],
      collect() {
        this.set(depth());
      },
    }),
    timeToReady: new Histogram({
      name: 'herald_operator_time_to_ready_seconds',
      help: 'Seconds from a resource’s creation to its first Ready condition',
      labelNames: ['kind'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'herald_operator_leader',
      help: '1 while this process holds the leader Lease',
      registers: [registry],
    }),
  };
}

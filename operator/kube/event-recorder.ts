/**
 * Kubernetes Events on Herald's resources (`kubectl describe` and `kubectl get events` show
 * them). A repeat of the same reason and message on the same object bumps its count instead
 * of creating another Event, as client-go's recorder does. Recording never fails a reconcile:
 * an Event that cannot be written is logged and dropped.
 */
import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions, type CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from '../../core/logging.js';
import type { HeraldResource } from '../../core/resources/types.js';
import type { KubeClients } from './kube-api.js';

export type EventType = 'Normal' | 'Warning';

const COMPONENT = 'herald-operator';
/** Remembered (object, reason, message) → Event, to count repeats; bounded. */
const MAX_REMEMBERED = 4096;

export class EventRecorder {
  private readonly seen = new Map<string, { name: string; count: number }>();

  constructor(
    private readonly clients: KubeClients,
    private readonly log: Logger,
    private readonly instance: string,
  ) {}

  record(obj: HeraldResource, type: EventType, reason: string, message: string): void {
    void this.write(obj, type, reason, message).catch((err: unknown) => {
      this.log.warn(
        { err, reason, resource: obj.metadata.name },
        'cannot record a Kubernetes Event',
      );
    });
  }

  private async write(
    obj: HeraldResource,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const namespace = obj.metadata.namespace ?? 'default';
    const key = `${obj.metadata.uid ?? ''}\0${namespace}/${obj.metadata.name}\0${type}\0${reason}\0${message}`;
    const now = new Date();
    const known = this.seen.get(key);
    if (known) {
      known.count++;
      try {
        await this.clients.core.patchNamespacedEvent(
          {
            name: known.name,
            namespace,
            body: { count: known.count, lastTimestamp: now.toISOString() },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
        return;
      } catch {
        this.seen.delete(key); // expired or deleted: write a new one
      }
    }
    const name = `${obj.metadata.name}.${randomBytes(8).toString('hex')}`;
    const event: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: obj.metadata.name,
        namespace,
        ...(obj.metadata.uid && { uid: obj.metadata.uid }),
        ...(obj.metadata.resourceVersion && { resourceVersion: obj.metadata.resourceVersion }),
      },
      reason,
      message: message.slice(0, 1024),
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: this.instance,
    };
    await this.clients.core.createNamespacedEvent({ namespace, body: event });
    if (this.seen.size >= MAX_REMEMBERED) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { name, count: 1 });
  }
}

/**
 * For the dead-letter sink and redrive tests: the system streams and shared consumers the
 * operator creates (from its own builders), and waits on them.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { DLQ_STREAM, dlqSubjectFor } from '../../core/topology.js';
import {
  buildSystemConsumerConfigs,
  buildSystemStreamConfigs,
} from '../../operator/jetstream-config.js';
import { waitFor } from './support.js';

/** HERALD_REDRIVE (HERALD_DLQ is the harness's) and the shared durables, as the operator makes them. */
export async function ensureDeadLetterTopology(jsm: JetStreamManager): Promise<void> {
  for (const s of buildSystemStreamConfigs()) {
    if (s.name === DLQ_STREAM) continue;
    await jsm.streams.add(s).catch(async () => jsm.streams.update(s.name, s));
  }
  for (const c of buildSystemConsumerConfigs()) await jsm.consumers.add(c.stream, c.consumer);
}

/** Resolves once a shared durable has handed out everything stored and holds nothing unacked. */
export function waitForDurableIdle(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  timeoutMs = 20_000,
): Promise<true> {
  return waitFor(
    async () => {
      const info = await jsm.consumers.info(stream, durable);
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    },
    `${durable} on ${stream} to be idle`,
    timeoutMs,
  );
}

/** How many dead letters HERALD_DLQ holds for a subscription. */
export async function countDeadLetters(
  jsm: JetStreamManager,
  namespace: string,
  name: string,
): Promise<number> {
  const subject = dlqSubjectFor(namespace, name);
  const info = await jsm.streams.info(DLQ_STREAM, { subjects_filter: subject });
  return info.state.subjects?.[subject] ?? 0;
}

/** Waits until HERALD_DLQ holds `count` dead letters for the subscription. */
export function waitForDeadLetters(
  jsm: JetStreamManager,
  namespace: string,
  name: string,
  count: number,
  timeoutMs = 20_000,
): Promise<true> {
  return waitFor(
    async () => ((await countDeadLetters(jsm, namespace, name)) >= count ? true : undefined),
    `${count} dead letters for ${namespace}/${name}`,
    timeoutMs,
  );
}

/**
 * Queueing dead letters for `herald dlq redrive`: each original event (heralderror* removed)
 * goes to HERALD_REDRIVE on `herald.redrive.<ns>.<name>` with the headers the dispatchers'
 * redrive loop (dispatcher/redrive.ts) reads.
 */
import {
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { decodeStructured, encodeStructured } from '../core/cloudevents/index.js';
import { MediaType } from '../core/cloudevents/types.js';
import type { CompiledSubscription } from '../core/config/model.js';
import {
  CONFIG_BUCKET,
  ConfigKeyPrefix,
  configKeyFor,
  messageIdFor,
  REDRIVE_STREAM,
  redriveSubjectFor,
} from '../core/topology.js';
import { DeadLetterAttribute, DeadLetterHeader } from '../dispatcher/dead-letter.js';
import { RedriveHeader } from '../dispatcher/redrive.js';
import { DlqError, DlqErrorCode, type StoredDeadLetter } from './dlq-read.js';

interface SubscriptionRef {
  namespace: string;
  name: string;
}

export interface QueueResult {
  queued: number;
  /** Already queued by a redrive within HERALD_REDRIVE's duplicate window. */
  duplicates: number;
  /** HERALD_DLQ sequences of dead letters that are not CloudEvents. */
  skipped: number[];
  /** Why queueing stopped early (e.g. HERALD_REDRIVE is full). */
  failure?: Error;
}

/** Publishes in flight at once while queueing a redrive. */
const REDRIVE_PIPELINE = 64;

/** HERALD_REDRIVE's duplicate window, as `2m`; fails when the stream is missing. */
export async function readRedriveWindow(jsm: JetStreamManager): Promise<string> {
  try {
    return formatWindow((await jsm.streams.info(REDRIVE_STREAM)).config.duplicate_window);
  } catch (e) {
    if (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.StreamNotFound) {
      throw new DlqError(
        DlqErrorCode.StreamMissing,
        `the stream ${REDRIVE_STREAM} does not exist: run the operator of this Herald version first`,
        { cause: e },
      );
    }
    throw e;
  }
}

function formatWindow(ns: number): string {
  const s = Math.round(ns / 1e9);
  return s % 60 === 0 && s > 0 ? `${s / 60}m` : `${s}s`;
}

/** Redrive delivers to the subscription's current sink: it must exist and not be paused. */
export async function checkSubscription(js: JetStreamClient, q: SubscriptionRef): Promise<void> {
  const id = `${q.namespace}/${q.name}`;
  let entry;
  try {
    const kv = await new Kvm(js).open(CONFIG_BUCKET);
    entry = await kv.get(configKeyFor(ConfigKeyPrefix.Subscription, q.namespace, q.name));
  } catch (cause) {
    throw new DlqError(
      DlqErrorCode.NoSubscription,
      `cannot read the config bucket ${CONFIG_BUCKET} (has the operator run against this NATS?): ${(cause as Error).message}`,
      { cause },
    );
  }
  if (!entry || entry.operation !== 'PUT' || entry.length === 0) {
    throw new DlqError(
      DlqErrorCode.NoSubscription,
      `Subscription ${id} is not in the config: a redrive goes to the subscription's current sink, so there is nowhere to send it`,
    );
  }
  const sub = entry.json<CompiledSubscription>();
  if (sub.paused) {
    throw new DlqError(
      DlqErrorCode.SubscriptionPaused,
      `Subscription ${id} is paused: resume it first, then redrive (redrives for a paused subscription are dropped)`,
    );
  }
}

/** Publishes each letter's redrive message; stops after the chunk where a publish failed. */
export async function queueRedrives(
  js: JetStreamClient,
  q: SubscriptionRef,
  letters: readonly StoredDeadLetter[],
): Promise<QueueResult> {
  const result: QueueResult = { queued: 0, duplicates: 0, skipped: [] };
  for (let i = 0; i < letters.length && !result.failure; i += REDRIVE_PIPELINE) {
    const chunk = letters.slice(i, i + REDRIVE_PIPELINE);
    const acks = await Promise.allSettled(
      chunk.map((letter) => {
        const message = toRedriveMessage(q, letter);
        if (!message) {
          result.skipped.push(letter.seq);
          return undefined;
        }
        return js.publish(redriveSubjectFor(q.namespace, q.name), message.body, {
          headers: message.headers,
          msgID: message.msgId,
        });
      }),
    );
    for (const ack of acks) {
      if (ack.status === 'rejected') result.failure ??= ack.reason as Error;
      else if (ack.value?.duplicate) result.duplicates++;
      else if (ack.value) result.queued++;
    }
  }
  return result;
}

/** The original event (heralderror* removed), with the headers the dispatcher's redrive reads. */
function toRedriveMessage(
  q: SubscriptionRef,
  letter: StoredDeadLetter,
): { body: string; headers: ReturnType<typeof natsHeaders>; msgId: string } | undefined {
  let event;
  try {
    event = decodeStructured(letter.data);
  } catch {
    return undefined;
  }
  for (const name of Object.values(DeadLetterAttribute)) delete event.attributes[name];
  const h = natsHeaders();
  h.set('Content-Type', MediaType.Structured);
  h.set(
    DeadLetterHeader.OriginalMsgId,
    letter.headers.originalMsgId ??
      messageIdFor(q.namespace, String(event.attributes.source), String(event.attributes.id)),
  );
  if (letter.headers.producer) h.set(DeadLetterHeader.Producer, letter.headers.producer);
  if (letter.headers.sourceStream)
    h.set(DeadLetterHeader.SourceStream, letter.headers.sourceStream);
  if (letter.headers.sourceSequence !== undefined) {
    h.set(DeadLetterHeader.SourceSequence, String(letter.headers.sourceSequence));
  }
  h.set(RedriveHeader.DeadLetterSequence, String(letter.seq));
  // From the dead letter's sequence: a second redrive within the duplicate window is refused.
  return { body: encodeStructured(event), headers: h, msgId: `herald-redrive-${letter.seq}` };
}

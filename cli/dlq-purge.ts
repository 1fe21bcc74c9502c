/**
 * Deletes the dead letters `herald dlq purge --yes` selected from HERALD_DLQ, by the sequence
 * numbers read first: a dead letter stored while the purge runs is never deleted.
 */
import type { JetStreamManager } from '@nats-io/jetstream';
import { DLQ_STREAM } from '../core/topology.js';
import type { StoredDeadLetter } from './dlq-read.js';

export interface PurgeResult {
  deleted: number;
  /** Selected but no longer stored when deleted: aged out, or deleted by someone else. */
  gone: number;
  /** Why deleting stopped early; the rest of the selection is still stored. */
  failure?: Error;
}

/** Delete requests in flight at once. */
const DELETE_PIPELINE = 64;

/**
 * `oldestOfSubject`: the letters are the oldest of their subject (no --since, --id or
 * --source), so one purge of the subject below the last one's sequence removes exactly them.
 * Otherwise each is deleted by its sequence.
 */
export async function deleteDeadLetters(
  jsm: JetStreamManager,
  subject: string,
  letters: readonly StoredDeadLetter[],
  oldestOfSubject: boolean,
): Promise<PurgeResult> {
  const last = letters.at(-1);
  if (!last) return { deleted: 0, gone: 0 };
  if (oldestOfSubject) {
    try {
      // `seq`: up to but not including, so the newest selected one goes and nothing after it.
      const { purged } = await jsm.streams.purge(DLQ_STREAM, {
        filter: subject,
        seq: last.seq + 1,
      });
      return { deleted: purged, gone: Math.max(0, letters.length - purged) };
    } catch (e) {
      return { deleted: 0, gone: 0, failure: e as Error };
    }
  }
  const result: PurgeResult = { deleted: 0, gone: 0 };
  for (let i = 0; i < letters.length && !result.failure; i += DELETE_PIPELINE) {
    const chunk = letters.slice(i, i + DELETE_PIPELINE);
    const settled = await Promise.allSettled(chunk.map((letter) => deleteOne(jsm, letter.seq)));
    for (const s of settled) {
      if (s.status === 'rejected') result.failure ??= s.reason as Error;
      else if (s.value) result.deleted++;
      else result.gone++;
    }
  }
  return result;
}

/** True when deleted, false when it was no longer stored; throws when it stays. */
async function deleteOne(jsm: JetStreamManager, seq: number): Promise<boolean> {
  try {
    // no_erase: the stream forgets the message; overwriting its bytes on disk costs time.
    await jsm.streams.deleteMessage(DLQ_STREAM, seq, false);
    return true;
  } catch (e) {
    // nats-server answers a missing sequence with a generic delete error (10057, its text
    // varying by store), so look: gone is not a failure.
    if ((await jsm.streams.getMessage(DLQ_STREAM, { seq }).catch(() => undefined)) === null) {
      return false;
    }
    throw e;
  }
}

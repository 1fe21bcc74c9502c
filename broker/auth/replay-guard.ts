/**
 * Remembers the `webhook-id` of every signed request for as long as its timestamp could still
 * be accepted, across all broker replicas: one NATS KV bucket, and `kv.create()`, which the
 * server refuses when the key exists — an atomic check-and-set no two pods can both win.
 */
import { JetStreamApiCodes, JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { REPLAY_BUCKET } from '../../core/topology.js';

export interface ReplayGuard {
  /** True the first time `key` is claimed within the window; false for a replay. Rejects when NATS cannot answer. */
  claim(key: string): Promise<boolean>;
}

/**
 * A request is accepted while |now − timestamp| ≤ tolerance, a window 2 × tolerance wide: its
 * first arrival may come at one edge and a replay at the other, so each id is kept that long,
 * plus a margin for clock differences between replicas.
 */
export function replayWindowMs(toleranceSeconds: number): number {
  return 2 * toleranceSeconds * 1000 + 60_000;
}

/** Opens (creating when absent) the replay bucket: entries expire after `ttlMs`. */
export async function openReplayBucket(js: JetStreamClient, ttlMs: number): Promise<KV> {
  return new Kvm(js).create(REPLAY_BUCKET, { history: 1, ttl: ttlMs });
}

export function createKvReplayGuard(kv: KV): ReplayGuard {
  return {
    async claim(key: string): Promise<boolean> {
      try {
        await kv.create(key, '');
        return true;
      } catch (err) {
        if (isKeyTaken(err)) return false;
        throw err;
      }
    },
  };
}

function isKeyTaken(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

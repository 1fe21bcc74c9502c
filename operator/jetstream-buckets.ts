/**
 * The KV buckets behind Herald's config, delivery ledger and endpoint health, as JetStream
 * streams. Brokers and dispatchers create them too, with the same shape, whichever starts
 * first; the operator creates a missing one and keeps in line only what it owns (replicas,
 * description, the ledger's TTL when asked), so the rest stays as whoever made it left it.
 */
import { JetStreamApiCodes, type JetStreamManager, type StreamConfig } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { openConfigBucket } from '../core/config/kv.js';
import { openDeliveryStateBucket } from '../core/delivery-state.js';
import {
  DEFAULT_REPLICA_TTL_MS,
  REPLICAS_BUCKET,
  REPLICAS_BUCKET_DESCRIPTION,
  openReplicasBucket,
} from '../core/replica-membership.js';
import {
  CONFIG_BUCKET,
  DELIVERY_STATE_BUCKET_DESCRIPTION,
  DELIVERY_STATE_STREAM,
  LEDGER_BUCKET,
  LEDGER_BUCKET_DESCRIPTION,
  LEDGER_DEFAULT_WINDOW_MS,
  LEDGER_STREAM,
} from '../core/topology.js';
import { nanos } from './jetstream-config.js';
import { hasCode, type ReportRecorder, type TopologyChange } from './jetstream-report.js';

/** The stream behind KV `herald-config` (Kvm's naming). */
const CONFIG_STREAM = `KV_${CONFIG_BUCKET}`;

/**
 * The config bucket, made as brokers and dispatchers make it (any of them may start first,
 * with one replica); only its replicas are kept in line, so the operator's setting wins.
 */
export async function ensureConfigBucket(
  jsm: JetStreamManager,
  recorder: ReportRecorder,
  replicas: number,
): Promise<void> {
  const ref: TopologyChange = { object: 'stream', stream: CONFIG_STREAM };
  await recorder.guard(ref, async () => {
    let actual: StreamConfig;
    try {
      actual = (await jsm.streams.info(CONFIG_STREAM)).config;
    } catch (err) {
      if (!hasCode(err, JetStreamApiCodes.StreamNotFound)) throw err;
      await openConfigBucket(jsm.jetstream(), replicas);
      recorder.record('created', ref, 'config bucket created');
      return;
    }
    if (actual.num_replicas === replicas) return;
    await jsm.streams.update(CONFIG_STREAM, { num_replicas: replicas });
    recorder.record('updated', { ...ref, fields: ['num_replicas'] }, 'config bucket updated');
  });
}

/**
 * The delivery ledger's KV bucket, made by Kvm as the dispatcher makes it (whichever runs
 * first creates it; both give it the same shape). Only its replicas, description and — when
 * asked — its TTL are kept in line.
 */
export async function ensureLedgerBucket(
  jsm: JetStreamManager,
  recorder: ReportRecorder,
  replicas: number,
  windowMs: number | undefined,
): Promise<void> {
  const ref: TopologyChange = { object: 'stream', stream: LEDGER_STREAM };
  await recorder.guard(ref, async () => {
    let actual: StreamConfig;
    try {
      actual = (await jsm.streams.info(LEDGER_STREAM)).config;
    } catch (err) {
      if (!hasCode(err, JetStreamApiCodes.StreamNotFound)) throw err;
      await new Kvm(jsm.jetstream()).create(LEDGER_BUCKET, {
        history: 1,
        ttl: windowMs ?? LEDGER_DEFAULT_WINDOW_MS,
        replicas,
        description: LEDGER_BUCKET_DESCRIPTION,
      });
      recorder.record('created', ref, 'delivery ledger bucket created');
      return;
    }
    const desired: Partial<StreamConfig> = {
      num_replicas: replicas,
      description: LEDGER_BUCKET_DESCRIPTION,
      ...(windowMs !== undefined && { max_age: nanos(windowMs) }),
    };
    const drift = (Object.keys(desired) as (keyof StreamConfig)[]).filter(
      (f) => desired[f] !== actual[f],
    );
    if (drift.length === 0) return;
    await jsm.streams.update(LEDGER_STREAM, desired);
    recorder.record('updated', { ...ref, fields: drift }, 'delivery ledger bucket updated');
  });
}

/**
 * The endpoint-health bucket (core/delivery-state.ts), made as the dispatcher makes it;
 * only its replicas and description are kept in line.
 */
export function ensureDeliveryStateBucket(
  jsm: JetStreamManager,
  recorder: ReportRecorder,
  replicas: number,
): Promise<void> {
  return ensureSharedBucket(jsm, recorder, replicas, {
    stream: DELIVERY_STATE_STREAM,
    description: DELIVERY_STATE_BUCKET_DESCRIPTION,
    label: 'delivery state bucket',
    create: () => openDeliveryStateBucket(jsm.jetstream(), replicas),
  });
}

/**
 * The live-replica bucket behind shared rate limits (core/replica-membership.ts), made as
 * brokers and dispatchers make it; only its replicas and description are kept in line.
 */
export function ensureReplicasBucket(
  jsm: JetStreamManager,
  recorder: ReportRecorder,
  replicas: number,
): Promise<void> {
  return ensureSharedBucket(jsm, recorder, replicas, {
    stream: `KV_${REPLICAS_BUCKET}`,
    description: REPLICAS_BUCKET_DESCRIPTION,
    label: 'replicas bucket',
    create: () => openReplicasBucket(jsm.jetstream(), DEFAULT_REPLICA_TTL_MS, replicas),
  });
}

/** Creates a bucket others may have made first, or brings its replicas and description in line. */
async function ensureSharedBucket(
  jsm: JetStreamManager,
  recorder: ReportRecorder,
  replicas: number,
  bucket: { stream: string; description: string; label: string; create: () => Promise<unknown> },
): Promise<void> {
  const ref: TopologyChange = { object: 'stream', stream: bucket.stream };
  await recorder.guard(ref, async () => {
    let actual: StreamConfig;
    try {
      actual = (await jsm.streams.info(bucket.stream)).config;
    } catch (err) {
      if (!hasCode(err, JetStreamApiCodes.StreamNotFound)) throw err;
      await bucket.create();
      recorder.record('created', ref, `${bucket.label} created`);
      return;
    }
    const desired = { num_replicas: replicas, description: bucket.description };
    const drift = (Object.keys(desired) as (keyof typeof desired)[]).filter(
      (f) => desired[f] !== actual[f],
    );
    if (drift.length === 0) return;
    await jsm.streams.update(bucket.stream, desired);
    recorder.record('updated', { ...ref, fields: drift }, `${bucket.label} updated`);
  });
}

/**
 * How storing an event reports back, without a promise or closure per event: a QueuedPublish
 * is the PubAck listener of one publish and tells a StoreListener how it ended; the outcomes
 * below turn that into metrics and the answer for one event, a batch, or a promise.
 */
import type { CompiledEventType, CompiledProducer } from '../core/config/model.js';
import type { IngestListener, IngestPipeline, Receipt } from './ingest.js';
import type { PublishAck, PublishHeaders, PublishListener } from './jetstream-publisher.js';
import type { BrokerMetrics } from './metrics.js';
import { mapPublishError, type ProblemError } from './problems.js';

/** Told once how storing the event at `index` ended. */
export interface StoreListener {
  onStored(receipt: Receipt, index: number): void;
  onStoreFailed(error: ProblemError, index: number): void;
}

/** A publish waiting for the next event-loop turn (ingest.ts flushPublishQueue), then its ack. */
export class QueuedPublish implements PublishListener {
  /** When it went to NATS (performance.now()), for the publish latency metric. */
  sentAt = 0;
  constructor(
    readonly subject: string,
    public body: string,
    readonly msgID: string,
    readonly headers: PublishHeaders,
    private readonly receipt: { id: string; source: string; type: string; deprecated: boolean },
    private readonly metrics: BrokerMetrics,
    private readonly listener: StoreListener,
    private readonly index: number,
  ) {}

  onPublished(err: Error | undefined, ack: PublishAck | undefined): void {
    if (err !== undefined || ack === undefined) {
      return this.listener.onStoreFailed(mapPublishError(err), this.index);
    }
    this.metrics.observePublish((performance.now() - this.sentAt) / 1000);
    const { id, source, type, deprecated } = this.receipt;
    const receipt: Receipt = { id, source, type, sequence: ack.seq, duplicate: ack.duplicate };
    if (deprecated) receipt.deprecated = true;
    this.listener.onStored(receipt, this.index);
  }
}

/** One event's outcome: counted, then told to the listener. */
export class SingleOutcome implements StoreListener {
  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly producer: CompiledProducer,
    private readonly et: CompiledEventType,
    private readonly listener: IngestListener,
  ) {}

  onStored(receipt: Receipt): void {
    this.pipeline.recordReceipt(this.producer, this.et, receipt);
    this.listener.onAccepted(receipt);
  }

  onStoreFailed(error: ProblemError): void {
    this.pipeline.recordFailure(this.producer, this.et, error);
    this.listener.onRefused(error);
  }
}

/** Every event of a batch settled, in order: a receipt or its error each. */
export class BatchOutcome implements StoreListener {
  private remaining: number;
  readonly results: (Receipt | ProblemError)[];
  constructor(
    count: number,
    private readonly settled: (results: (Receipt | ProblemError)[]) => void,
  ) {
    this.remaining = count;
    this.results = new Array<Receipt | ProblemError>(count);
  }

  onStored(receipt: Receipt, index: number): void {
    this.results[index] = receipt;
    if (--this.remaining === 0) this.settled(this.results);
  }

  onStoreFailed(error: ProblemError, index: number): void {
    this.results[index] = error;
    if (--this.remaining === 0) this.settled(this.results);
  }
}

/** A listener that settles a promise. */
export class PromiseOutcome<T> implements StoreListener, IngestListener {
  constructor(
    private readonly resolve: (value: T) => void,
    private readonly reject: (err: unknown) => void,
  ) {}
  onStored(receipt: Receipt): void {
    this.resolve(receipt as T);
  }
  onStoreFailed(error: ProblemError): void {
    this.reject(error);
  }
  onAccepted(receipts: Receipt | Receipt[]): void {
    this.resolve(receipts as T);
  }
  onRefused(err: unknown): void {
    this.reject(err);
  }
}

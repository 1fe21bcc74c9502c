/**
 * What every gRPC method shares: readiness, authentication from metadata, decoding with
 * counted refusals, and turning a refusal into a logged gRPC status.
 */
import type { Metadata, StatusObject } from '@grpc/grpc-js';
import { CodecError, type CloudEvent } from '../core/cloudevents/types.js';
import type { CompiledProducer } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import { readCredentials } from './auth/credentials.js';
import { GrpcCode, buildGrpcError } from './grpc-status.js';
import type { Readiness } from './http.js';
import { wrapAsProblemError, type IngestPipeline } from './ingest.js';
import { TransportLabel, type BrokerMetrics } from './metrics.js';
import { carryTraceContext } from './tracing.js';
import { ProblemError, ProblemKind, RETRY_AFTER_SECONDS, mapCodecError } from './problems.js';

export interface GrpcServiceOptions {
  /** Undefined until NATS is connected and the config loaded: calls then get UNAVAILABLE. */
  getPipeline: () => IngestPipeline | undefined;
  getReadiness: () => Readiness;
  metrics: BrokerMetrics;
  logger: Logger;
}

export const EventBrokerPath = {
  Publish: '/herald.v1.EventBroker/Publish',
  PublishBatch: '/herald.v1.EventBroker/PublishBatch',
  PublishStream: '/herald.v1.EventBroker/PublishStream',
} as const;

export const CloudEventServicePath = {
  Publish: '/io.cloudevents.v1.CloudEventService/Publish',
  Subscribe: '/io.cloudevents.v1.CloudEventService/Subscribe',
} as const;

/** The first text value of a metadata key (gRPC keys are lower-case, like HTTP/2 headers). */
export function readMetadataText(metadata: Metadata, name: string): string | undefined {
  const value = metadata.get(name)[0];
  return typeof value === 'string' ? value : undefined;
}

/** What a handler needs once the caller is known. */
export interface AuthenticatedCall {
  pipeline: IngestPipeline;
  producer: CompiledProducer;
}

/** Shared by every method: readiness, authentication, decoding, refusals and their logs. */
export class GrpcIngest {
  constructor(readonly options: GrpcServiceOptions) {}

  /** The pipeline and the caller's producer; rejects with a ProblemError. */
  authenticate(metadata: Metadata, body: Uint8Array): Promise<AuthenticatedCall> {
    const pipeline = this.options.getPipeline();
    if (pipeline === undefined) {
      const reasons = this.options.getReadiness().reasons.join('; ');
      return Promise.reject(
        new ProblemError(ProblemKind.NotReady, `The broker is not ready: ${reasons}.`, {
          headers: { 'retry-after': String(RETRY_AFTER_SECONDS) },
        }),
      );
    }
    const credentials = readCredentials((name) => readMetadataText(metadata, name));
    return pipeline.authenticate(credentials, body).then(
      (producer) => ({ pipeline, producer }),
      (err: unknown) => {
        pipeline.recordRequestFailure(undefined, err);
        throw err;
      },
    );
  }

  /** Decodes with `decode`; a CodecError becomes a counted 400 ProblemError. */
  decode<T>(call: AuthenticatedCall, decode: () => T): T {
    try {
      return decode();
    } catch (err) {
      const error = err instanceof CodecError ? mapCodecError(err) : wrapAsProblemError(err);
      call.pipeline.recordRequestFailure(call.producer, error);
      throw error;
    }
  }

  /** W3C `traceparent`/`tracestate` metadata onto the events, as HTTP does with headers. */
  carryTrace(metadata: Metadata, events: readonly CloudEvent[]): void {
    const traceparent = readMetadataText(metadata, 'traceparent');
    if (traceparent === undefined) return;
    carryTraceContext(events, traceparent, readMetadataText(metadata, 'tracestate'));
  }

  observeBody(bytes: Uint8Array): void {
    this.options.metrics.observeBodySize(TransportLabel.Grpc, bytes.byteLength);
  }

  /** The status for a refused call, logged once: never credentials, never payloads. */
  refuse(method: string, err: unknown, producer?: CompiledProducer): Partial<StatusObject> {
    const error = wrapAsProblemError(err);
    const status = buildGrpcError(error);
    const fields: Record<string, unknown> = {
      method,
      code: GrpcCode[status.code as GrpcCode],
      problem: error.problem.type,
      reason: error.reason,
    };
    if (producer !== undefined) fields.producer = `${producer.namespace}/${producer.name}`;
    if (error.problem.status >= 500) this.options.logger.warn(fields, 'call refused');
    else this.options.logger.info(fields, 'call refused');
    return status;
  }
}

/**
 * The gRPC services: herald.v1.EventBroker (Publish, PublishBatch, PublishStream) and the
 * open-cluster-management io.cloudevents.v1.CloudEventService (Publish; Subscribe is
 * UNIMPLEMENTED). Definitions are built by hand: requests arrive as raw bytes (identity
 * deserializer) so credentials are checked before anything is decoded, as in HTTP, and a
 * malformed message is INVALID_ARGUMENT rather than grpc-js's INTERNAL for a throwing
 * deserializer. Responses are serialized by the codecs in grpc-messages.ts.
 */
import type {
  ServerReadableStream,
  ServerUnaryCall,
  ServerWritableStream,
  ServiceDefinition,
  UntypedServiceImplementation,
  sendUnaryData,
} from '@grpc/grpc-js';
import { decodeProtobuf, splitProtobufBatch } from '../core/cloudevents/protobuf.js';
import type { CloudEvent } from '../core/cloudevents/types.js';
import type { CompiledProducer } from '../core/config/model.js';
import { CloudEventServicePath, EventBrokerPath, type GrpcIngest } from './grpc-ingest.js';
import {
  decodePublishRequest,
  encodeBatchResponse,
  encodeEmpty,
  encodeReceipt,
  type EventResultMessage,
} from './grpc-messages.js';
import { handlePublishStream } from './grpc-stream.js';
import { GrpcCode, buildEventError } from './grpc-status.js';
import { wrapAsProblemError, type Receipt } from './ingest.js';
import { ProblemError } from './problems.js';

const passBytes = (bytes: Buffer): Buffer => bytes;

function defineMethod<Res>(
  path: string,
  requestStream: boolean,
  responseStream: boolean,
  serialize: (value: Res) => Buffer,
) {
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: passBytes,
    requestDeserialize: passBytes,
    responseSerialize: serialize,
    // Only clients deserialize responses; Herald's tests use clients built from the protos.
    responseDeserialize: passBytes as unknown as (bytes: Buffer) => Res,
  };
}

export const eventBrokerDefinition: ServiceDefinition = {
  Publish: defineMethod(EventBrokerPath.Publish, false, false, encodeReceipt),
  PublishBatch: defineMethod(EventBrokerPath.PublishBatch, false, false, encodeBatchResponse),
  PublishStream: defineMethod(EventBrokerPath.PublishStream, true, false, encodeBatchResponse),
};

export const cloudEventServiceDefinition: ServiceDefinition = {
  Publish: defineMethod(CloudEventServicePath.Publish, false, false, encodeEmpty),
  Subscribe: defineMethod(CloudEventServicePath.Subscribe, false, true, passBytes),
};

/** Publishes one decoded event from a unary call and answers with `respond(receipt)`. */
function handleUnaryPublish<Res>(
  ingest: GrpcIngest,
  method: string,
  call: ServerUnaryCall<Buffer, Res>,
  callback: sendUnaryData<Res>,
  decode: (bytes: Buffer) => CloudEvent,
  respond: (receipt: Receipt) => Res,
): void {
  const body = call.request;
  ingest.observeBody(body);
  let producer: CompiledProducer | undefined;
  ingest
    .authenticate(call.metadata, body)
    .then((authenticated) => {
      producer = authenticated.producer;
      const event = ingest.decode(authenticated, () => decode(body));
      ingest.carryTrace(call.metadata, [event]);
      return authenticated.pipeline.ingestOne(authenticated.producer, event);
    })
    .then(
      (receipt) => callback(null, respond(receipt)),
      (err: unknown) => callback(ingest.refuse(method, err, producer)),
    );
}

/** A valid event of a refused batch: checked or not, it was not stored. */
function buildRejectedResult(index: number, refused: number[]): EventResultMessage {
  return {
    index,
    error: {
      code: GrpcCode.ABORTED,
      reason: 'batch-rejected',
      message:
        `Not stored: event ${refused[0]} of the batch was refused (${refused.length} in all), ` +
        'and a batch is stored whole or not at all.',
      problemType: '',
      violations: [],
    },
  };
}

/**
 * Per-event results for a batch the pipeline refused, or undefined when the refusal is the
 * whole call's (a rate limit, a batch over the size limit).
 */
function readBatchRefusal(err: unknown, count: number): EventResultMessage[] | undefined {
  if (!(err instanceof ProblemError)) return undefined;
  const { failures, stored, failed } = err.problem as {
    failures?: ({ index: number; type: string } & Record<string, unknown>)[];
    stored?: (Receipt & { index: number })[];
    failed?: number[];
  };
  if (Array.isArray(failures)) {
    const byIndex = new Map(failures.map((f) => [f.index, f]));
    const refused = failures.map((f) => f.index);
    return Array.from({ length: count }, (_, index) => {
      const failure = byIndex.get(index);
      return failure === undefined
        ? buildRejectedResult(index, refused)
        : { index, error: buildEventError(failure) };
    });
  }
  if (Array.isArray(stored) && Array.isArray(failed)) {
    // Stored part-way: the first publish error stands for every event not stored.
    const cause = err.cause instanceof ProblemError ? err.cause : err;
    const results = new Array<EventResultMessage>(count);
    for (const { index, ...receipt } of stored) results[index] = { index, receipt };
    for (const index of failed) results[index] = { index, error: buildEventError(cause.problem) };
    return results;
  }
  return undefined;
}

function handlePublishBatch(
  ingest: GrpcIngest,
  call: ServerUnaryCall<Buffer, EventResultMessage[]>,
  callback: sendUnaryData<EventResultMessage[]>,
): void {
  const method = EventBrokerPath.PublishBatch;
  const body = call.request;
  ingest.observeBody(body);
  let producer: CompiledProducer | undefined;
  let count = 0;
  ingest
    .authenticate(call.metadata, body)
    .then((authenticated) => {
      producer = authenticated.producer;
      const entries = ingest.decode(authenticated, () => splitProtobufBatch(body));
      count = entries.length;
      const events: CloudEvent[] = [];
      const invalid = new Map<number, EventResultMessage>();
      entries.forEach((entry, index) => {
        try {
          events.push(ingest.decode(authenticated, () => decodeProtobuf(entry)));
        } catch (err) {
          invalid.set(index, { index, error: buildEventError(wrapAsProblemError(err).problem) });
        }
      });
      if (invalid.size > 0) {
        const refused = [...invalid.keys()];
        return entries.map((_, index) => invalid.get(index) ?? buildRejectedResult(index, refused));
      }
      ingest.carryTrace(call.metadata, events);
      return authenticated.pipeline.ingestBatch(authenticated.producer, events).then(
        (receipts): EventResultMessage[] => receipts.map((receipt, index) => ({ index, receipt })),
        (err: unknown) => {
          const results = readBatchRefusal(err, count);
          if (results === undefined) throw err;
          return results;
        },
      );
    })
    .then(
      (results) => callback(null, results),
      (err: unknown) => callback(ingest.refuse(method, err, producer)),
    );
}

export function createEventBrokerHandlers(ingest: GrpcIngest): UntypedServiceImplementation {
  return {
    Publish: (call: ServerUnaryCall<Buffer, Receipt>, callback: sendUnaryData<Receipt>) =>
      handleUnaryPublish(
        ingest,
        EventBrokerPath.Publish,
        call,
        callback,
        (bytes) => decodeProtobuf(bytes),
        (receipt) => receipt,
      ),
    PublishBatch: (
      call: ServerUnaryCall<Buffer, EventResultMessage[]>,
      callback: sendUnaryData<EventResultMessage[]>,
    ) => handlePublishBatch(ingest, call, callback),
    PublishStream: (
      call: ServerReadableStream<Buffer, EventResultMessage[]>,
      callback: sendUnaryData<EventResultMessage[]>,
    ) => handlePublishStream(ingest, call, callback),
  };
}

export function createCloudEventServiceHandlers(ingest: GrpcIngest): UntypedServiceImplementation {
  return {
    Publish: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) =>
      handleUnaryPublish(
        ingest,
        CloudEventServicePath.Publish,
        call,
        callback,
        decodePublishRequest,
        () => encodeEmpty(),
      ),
    Subscribe: (call: ServerWritableStream<Buffer, Buffer>) => {
      // Herald delivers through Subscriptions (retries, dead letters, signatures); an open
      // stream would bypass all of that. docs/grpc.md says so too.
      call.emit('error', {
        code: GrpcCode.UNIMPLEMENTED,
        details:
          'Herald does not stream events to subscribers: register a Subscription with a webhook sink.',
      });
    },
  };
}

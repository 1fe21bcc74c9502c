/**
 * herald.v1.EventBroker/PublishStream: a client stream of CloudEvents, each checked and
 * stored as it arrives (publishes overlap, up to MAX_STREAM_IN_FLIGHT; past that the stream
 * is paused, which pushes back on the client through HTTP/2 flow control). When the client
 * half-closes, the response reports every event in the order received. A cancelled call
 * stops reading; events already handed to JetStream may still be stored (retrying them is
 * safe: dedup).
 */
import type { ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import { decodeProtobuf } from '../core/cloudevents/protobuf.js';
import type { CompiledProducer } from '../core/config/model.js';
import { CredentialKind, readCredentials } from './auth/credentials.js';
import {
  EventBrokerPath,
  readMetadataText,
  type AuthenticatedCall,
  type GrpcIngest,
} from './grpc-ingest.js';
import type { EventResultMessage } from './grpc-messages.js';
import { buildEventError } from './grpc-status.js';
import { wrapAsProblemError } from './ingest.js';
import { ProblemError, ProblemKind } from './problems.js';

/** Publishes awaiting their PubAck per stream before reading pauses. */
export const MAX_STREAM_IN_FLIGHT = 1024;
/** Events one stream may carry: its results are held until the end. */
export const MAX_STREAM_EVENTS = 100_000;

const EMPTY_BODY = new Uint8Array(0);

export function handlePublishStream(
  ingest: GrpcIngest,
  call: ServerReadableStream<Buffer, EventResultMessage[]>,
  callback: sendUnaryData<EventResultMessage[]>,
): void {
  const method = EventBrokerPath.PublishStream;
  // An HMAC signature covers one message body; a stream has no single body to sign.
  const credentials = readCredentials((name) => readMetadataText(call.metadata, name));
  if (credentials.kind === CredentialKind.Hmac) {
    const error = new ProblemError(
      ProblemKind.Unauthorized,
      'PublishStream takes an API key or a JWT: a Standard Webhooks signature covers one message, use Publish or PublishBatch with it.',
      { reason: 'hmac on a stream' },
    );
    callback(ingest.refuse(method, error));
    return;
  }
  ingest.authenticate(call.metadata, EMPTY_BODY).then(
    (authenticated) => readStream(ingest, call, callback, authenticated),
    (err: unknown) => callback(ingest.refuse(method, err)),
  );
}

function readStream(
  ingest: GrpcIngest,
  call: ServerReadableStream<Buffer, EventResultMessage[]>,
  callback: sendUnaryData<EventResultMessage[]>,
  authenticated: AuthenticatedCall,
): void {
  const { pipeline, producer } = authenticated;
  const results: EventResultMessage[] = [];
  let received = 0;
  let inFlight = 0;
  let ended = false;
  let finished = false;
  let paused = false;

  const finish = (): void => {
    if (finished || !ended || inFlight > 0) return;
    finished = true;
    logSummary(ingest, producer, results);
    callback(null, results);
  };
  const stop = (): void => {
    finished = true;
    call.off('data', onData);
  };
  const settle = (index: number, result: EventResultMessage): void => {
    results[index] = result;
    inFlight--;
    if (paused && inFlight <= MAX_STREAM_IN_FLIGHT / 2) {
      paused = false;
      call.resume();
    }
    finish();
  };

  function onData(bytes: Buffer): void {
    if (finished) return;
    const index = received++;
    if (received > MAX_STREAM_EVENTS) {
      stop();
      const error = new ProblemError(
        ProblemKind.BatchTooLarge,
        `A stream carries at most ${MAX_STREAM_EVENTS} events; the first ${MAX_STREAM_EVENTS} were handled (retrying them is safe). Open a new stream for the rest.`,
        { extensions: { maxStreamEvents: MAX_STREAM_EVENTS } },
      );
      callback(ingest.refuse(EventBrokerPath.PublishStream, error, producer));
      return;
    }
    ingest.observeBody(bytes);
    let event;
    try {
      event = ingest.decode(authenticated, () => decodeProtobuf(bytes));
    } catch (err) {
      results[index] = { index, error: buildEventError(wrapAsProblemError(err).problem) };
      return;
    }
    ingest.carryTrace(call.metadata, [event]);
    inFlight++;
    if (inFlight >= MAX_STREAM_IN_FLIGHT && !paused) {
      paused = true;
      call.pause();
    }
    pipeline.ingestOne(producer, event).then(
      (receipt) => settle(index, { index, receipt }),
      (err: unknown) =>
        settle(index, { index, error: buildEventError(wrapAsProblemError(err).problem) }),
    );
  }

  call.on('data', onData);
  call.on('end', () => {
    ended = true;
    finish();
  });
  // The client cancelled or the connection broke: nobody is left to answer.
  call.on('cancelled', stop);
  call.on('error', stop);
}

/** One line per stream that had refusals (per-event lines would flood the log). */
function logSummary(
  ingest: GrpcIngest,
  producer: CompiledProducer,
  results: readonly EventResultMessage[],
): void {
  let failed = 0;
  const reasons = new Set<string>();
  for (const result of results) {
    if ('error' in result) {
      failed++;
      reasons.add(result.error.reason);
    }
  }
  if (failed === 0) return;
  ingest.options.logger.info(
    {
      method: EventBrokerPath.PublishStream,
      producer: `${producer.namespace}/${producer.name}`,
      events: results.length,
      refused: failed,
      reasons: [...reasons],
    },
    'stream events refused',
  );
}

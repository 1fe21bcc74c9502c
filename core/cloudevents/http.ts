/**
 * Picks the HTTP content mode of a request (HTTP binding §3) and decodes it.
 *
 * - `application/cloudevents+json` (any parameters, any charset: charset.ts) → structured
 * - `application/cloudevents-batch+json` (same) → batch
 * - `application/cloudevents+protobuf` → structured, `application/cloudevents-batch+protobuf` →
 *   batch (the Protobuf format, protobuf.ts)
 * - any other `application/cloudevents…` (e.g. +avro) → UnsupportedMediaType: the binding
 *   lets a receiver forward such a body as binary, but Herald must read every event.
 * - otherwise, any `ce-` header → binary (so a request with ce-id but no ce-specversion gets
 *   "specversion is required", which tells the sender what to fix)
 * - otherwise → UnsupportedMediaType. Decision: a request with no CloudEvents content type and
 *   no `ce-` header is not a CloudEvent, whatever its Content-Type (application/json
 *   included); 415 with a hint is more useful than guessing it is a structured event.
 */
import { decodeBinary } from './binary.js';
import {
  decodeCharsetJson,
  decodeUtf8Json,
  findCharsetDecoder,
  readCharsetLabel,
} from './charset.js';
import { isMediaType, readMediaTypeEssence } from './media-type.js';
import { decodeProtobuf, decodeProtobufBatch } from './protobuf.js';
import { decodeBatch, decodeStructured, encodeStructured } from './structured.js';
import {
  CodecError,
  CodecErrorCode,
  HttpContentMode,
  MediaType,
  type CloudEvent,
  type DecodedHttpRequest,
  type IncomingHeaders,
  type OutgoingHttpMessage,
} from './types.js';

const CLOUDEVENTS_PREFIX = 'application/cloudevents';
/** What structured responses and deliveries are sent as (lower-case charset, as the SDKs use). */
export const STRUCTURED_CONTENT_TYPE = `${MediaType.Structured}; charset=utf-8`;

/**
 * The body of a JSON-format request, as text when its charset is not UTF-8; UTF-8 bytes are
 * left to the format decoder, whose fast path reads them.
 */
function readFormatBody(contentType: string, body: Uint8Array): Uint8Array | string {
  if (!isMediaType(contentType)) {
    throw new CodecError(
      CodecErrorCode.UnsupportedMediaType,
      'Content-Type is not a valid media type',
    );
  }
  const label = readCharsetLabel(contentType);
  if (label === undefined) return body;
  const decoder = findCharsetDecoder(label);
  return decoder === undefined
    ? decodeUtf8Json(body, 'body')
    : decodeCharsetJson(body, decoder, label, 'body');
}

/** Echoes the client's media type only when it is short and well-formed. */
function describeEssence(essence: string): string {
  return essence.length <= 64 && isMediaType(essence) ? `"${essence}"` : '(unreadable)';
}

function hasCloudEventsHeader(headers: IncomingHeaders): boolean {
  for (const key of Object.keys(headers)) {
    if (headers[key] !== undefined && key.length > 3 && key.slice(0, 3).toLowerCase() === 'ce-') {
      return true;
    }
  }
  return false;
}

/** Decodes a request to `POST /events` in whichever content mode it uses. */
export function decodeHttpRequest(headers: IncomingHeaders, body: Uint8Array): DecodedHttpRequest {
  const contentType = headers['content-type'];
  if (contentType === MediaType.Structured) {
    return { mode: HttpContentMode.Structured, events: [decodeStructured(body)] };
  }
  if (Array.isArray(contentType)) {
    throw new CodecError(CodecErrorCode.UnsupportedMediaType, 'Content-Type must be given once');
  }
  if (contentType !== undefined) {
    const essence = readMediaTypeEssence(contentType);
    if (essence.startsWith(CLOUDEVENTS_PREFIX)) {
      if (essence === MediaType.Structured) {
        const text = readFormatBody(contentType, body);
        return { mode: HttpContentMode.Structured, events: [decodeStructured(text)] };
      }
      if (essence === MediaType.Batch) {
        return {
          mode: HttpContentMode.Batch,
          events: decodeBatch(readFormatBody(contentType, body)),
        };
      }
      if (essence === MediaType.Protobuf || essence === MediaType.ProtobufBatch) {
        if (!isMediaType(contentType)) {
          throw new CodecError(
            CodecErrorCode.UnsupportedMediaType,
            'Content-Type is not a valid media type',
          );
        }
        return essence === MediaType.Protobuf
          ? { mode: HttpContentMode.Structured, events: [decodeProtobuf(body)] }
          : { mode: HttpContentMode.Batch, events: decodeProtobufBatch(body) };
      }
      throw new CodecError(
        CodecErrorCode.UnsupportedMediaType,
        `event format ${describeEssence(essence)} is not supported: ` +
          `use ${MediaType.Structured}, ${MediaType.Batch}, ${MediaType.Protobuf}, ` +
          `${MediaType.ProtobufBatch} or binary mode`,
      );
    }
  }
  if (headers['ce-specversion'] !== undefined || hasCloudEventsHeader(headers)) {
    return { mode: HttpContentMode.Binary, events: [decodeBinary(headers, body)] };
  }
  throw new CodecError(
    CodecErrorCode.UnsupportedMediaType,
    'not a CloudEvent: send Content-Type application/cloudevents+json (structured), ' +
      'application/cloudevents-batch+json (batch), or ce-* headers (binary mode)',
  );
}

/** A structured-mode HTTP message for one event (dispatcher deliveries with mode: structured). */
export function encodeStructuredHttp(event: CloudEvent): OutgoingHttpMessage {
  return {
    headers: { 'content-type': STRUCTURED_CONTENT_TYPE },
    body: encodeStructured(event),
  };
}

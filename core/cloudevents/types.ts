/**
 * The in-memory CloudEvent every codec produces and consumes. Context attributes are kept
 * flat and canonical (strings, or integers/booleans for typed extensions); `data` keeps the
 * form it arrived in so re-encoding never re-parses or re-stringifies what it need not.
 */

/** CloudEvents type system values as carried in memory. Binary/URI/timestamp are strings. */
export type AttributeValue = string | number | boolean;

export type EventData =
  /** JSON data. `text` is the exact JSON text when the codec had it (saves a stringify). */
  | { kind: 'json'; value: unknown; text?: string }
  /** Non-JSON text (e.g. text/plain, application/xml) */
  | { kind: 'text'; value: string }
  /**
   * Opaque bytes (e.g. application/octet-stream, data_base64, protobuf binary_data).
   * `typeUrl`: the protobuf `Any` type URL when the bytes arrived as protobuf `proto_data`.
   * `json`: what JSON bytes in a charset other than UTF-8 say (binary mode), for the schema
   * check; the bytes are what is stored and sent on.
   */
  | { kind: 'binary'; value: Uint8Array; typeUrl?: string; json?: { value: unknown } };

export interface CloudEvent {
  /** Every context attribute, required, optional and extension, by lower-case name. Never `data`. */
  attributes: Record<string, AttributeValue>;
  data: EventData | undefined;
}

/** Attributes every CloudEvent has (after successful decoding). */
export const REQUIRED_ATTRIBUTES = ['specversion', 'id', 'source', 'type'] as const;

export const MediaType = {
  Structured: 'application/cloudevents+json',
  Batch: 'application/cloudevents-batch+json',
  Protobuf: 'application/cloudevents+protobuf',
  ProtobufBatch: 'application/cloudevents-batch+protobuf',
  Json: 'application/json',
  Problem: 'application/problem+json',
} as const;

/**
 * Stable reasons a request is not a valid CloudEvent. The broker maps each to a status and a
 * problem `type` (DESIGN.md §4); the message says what exactly is wrong.
 */
export const CodecErrorCode = {
  /** Body is not what the content type promises (bad JSON, not an object, …). */
  Malformed: 'malformed',
  MissingAttribute: 'missing_attribute',
  InvalidAttribute: 'invalid_attribute',
  InvalidAttributeName: 'invalid_attribute_name',
  UnsupportedSpecVersion: 'unsupported_specversion',
  /** Both `data` and `data_base64`. */
  ConflictingData: 'conflicting_data',
  InvalidEncoding: 'invalid_encoding',
  UnsupportedMediaType: 'unsupported_media_type',
} as const;
export type CodecErrorCode = (typeof CodecErrorCode)[keyof typeof CodecErrorCode];

export class CodecError extends Error {
  readonly code: CodecErrorCode;
  /** The attribute (or JSON pointer) at fault, when there is one. */
  readonly attribute?: string;
  constructor(
    code: CodecErrorCode,
    message: string,
    options?: { attribute?: string; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CodecError';
    this.code = code;
    if (options?.attribute !== undefined) this.attribute = options.attribute;
  }
}

/** HTTP headers as Node gives them (lower-case names). */
export type IncomingHeaders = Record<string, string | string[] | undefined>;

/** An HTTP message to send: headers (lower-case names) and a body. */
export interface OutgoingHttpMessage {
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/** How an HTTP request carried its events (HTTP binding §1.3). */
export const HttpContentMode = {
  Structured: 'structured',
  Binary: 'binary',
  Batch: 'batch',
} as const;
export type HttpContentMode = (typeof HttpContentMode)[keyof typeof HttpContentMode];

/** What `decodeHttpRequest` found: the mode, and every event (one unless batched). */
export interface DecodedHttpRequest {
  mode: HttpContentMode;
  events: CloudEvent[];
}

/**
 * Herald's CloudEvents 1.0 codec: HTTP binary, structured (JSON format) and batched (JSON batch
 * format) modes, and the Protobuf format and its batch format. Strict per the spec, and built for the broker's hot path. See
 * docs/cloudevents-codec.md for what is accepted and why.
 */
export * from './types.js';
export {
  MAX_ATTRIBUTE_NAME_LENGTH,
  SPEC_VERSION,
  isAttributeName,
  validateAttributes,
} from './attributes.js';
export { decodeBinary, encodeBinary } from './binary.js';
export { STRUCTURED_CONTENT_TYPE, decodeHttpRequest, encodeStructuredHttp } from './http.js';
export { isJsonEssence, isMediaType, readMediaTypeEssence } from './media-type.js';
export { decodeHeaderValue, encodeHeaderValue } from './percent-encoding.js';
export {
  decodeProtobuf,
  decodeProtobufBatch,
  encodeProtobuf,
  encodeProtobufBatch,
  splitProtobufBatch,
  type ProtobufDecodeOptions,
} from './protobuf.js';
export { decodeBatch, decodeStructured, encodeStructured } from './structured.js';

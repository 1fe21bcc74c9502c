/**
 * gRPC clients for the broker's services, built at test time from the .proto files with
 * @grpc/proto-loader and @grpc/grpc-js — nothing of the server's own code — so the tests
 * exercise the wire contract a partner's generated client would.
 */
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { REPO_ROOT } from '../support/processes.js';

const PROTO_DIR = join(REPO_ROOT, 'proto');

/** Messages as proto-loader gives and takes them: snake_case fields, oneof names, plain numbers. */
export type Message = Record<string, unknown>;

type UnaryMethod = (
  request: Message,
  metadata: grpc.Metadata,
  callback: (err: grpc.ServiceError | null, response?: Message) => void,
) => grpc.ClientUnaryCall;

type ClientStreamMethod = (
  metadata: grpc.Metadata,
  callback: (err: grpc.ServiceError | null, response?: Message) => void,
) => grpc.ClientWritableStream<Message>;

export interface EventBrokerClient extends grpc.Client {
  Publish: UnaryMethod;
  PublishBatch: UnaryMethod;
  PublishStream: ClientStreamMethod;
}

export interface CloudEventServiceClient extends grpc.Client {
  Publish: UnaryMethod;
  Subscribe: (request: Message, metadata: grpc.Metadata) => grpc.ClientReadableStream<Message>;
}

interface Loaded {
  herald: { v1: { EventBroker: grpc.ServiceClientConstructor } };
  io: { cloudevents: { v1: { CloudEventService: grpc.ServiceClientConstructor } } };
}

let loaded: Loaded | undefined;

function load(): Loaded {
  loaded ??= grpc.loadPackageDefinition(
    protoLoader.loadSync(['herald/v1/broker.proto', 'io/cloudevents/v1/cloudevent-service.proto'], {
      includeDirs: [PROTO_DIR],
      keepCase: true,
      longs: Number,
      defaults: false,
      oneofs: true,
    }),
  ) as unknown as Loaded;
  return loaded;
}

export function createEventBrokerClient(port: number): EventBrokerClient {
  const Client = load().herald.v1.EventBroker;
  return new Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as EventBrokerClient;
}

export function createCloudEventServiceClient(port: number): CloudEventServiceClient {
  const Client = load().io.cloudevents.v1.CloudEventService;
  return new Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as unknown as CloudEventServiceClient;
}

/** Metadata with the given entries (e.g. authorization, x-api-key, traceparent). */
export function buildMetadata(entries: Record<string, string> = {}): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(entries)) metadata.set(k, v);
  return metadata;
}

/** Calls a unary method; resolves with the response or the ServiceError. */
export function callUnary(
  method: UnaryMethod,
  client: grpc.Client,
  request: Message,
  metadata: grpc.Metadata,
): Promise<{ response?: Message; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    method.call(client, request, metadata, (error, response) =>
      resolve(error === null ? { response } : { error }),
    );
  });
}

/** Sends raw bytes to a unary method: for messages no generated client would build. */
export function callRaw(
  client: grpc.Client,
  path: string,
  body: Uint8Array,
  metadata: grpc.Metadata,
): Promise<{ response?: Buffer; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      body,
      metadata,
      (error, response) => resolve(error === null ? { response } : { error }),
    );
  });
}

const RPC_DETAILS = protobuf.parse(
  `
  syntax = "proto3";
  package google.rpc;
  message Any { string type_url = 1; bytes value = 2; }
  message Status { int32 code = 1; string message = 2; repeated Any details = 3; }
  message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
  message FieldViolation { string field = 1; string description = 2; }
  message BadRequest { repeated FieldViolation field_violations = 1; }
  message Duration { int64 seconds = 1; int32 nanos = 2; }
  message RetryInfo { Duration retry_delay = 1; }
`,
  { keepCase: true },
).root;

/** The google.rpc.Status in `grpc-status-details-bin`, its details unpacked by type name. */
export function readStatusDetails(error: grpc.ServiceError): {
  code: number;
  message: string;
  details: Record<string, Message>;
} {
  const [bytes] = error.metadata.get('grpc-status-details-bin');
  if (!Buffer.isBuffer(bytes)) throw new Error('no grpc-status-details-bin trailer');
  const Status = RPC_DETAILS.lookupType('google.rpc.Status');
  const status = Status.toObject(Status.decode(bytes), { longs: Number }) as {
    code: number;
    message: string;
    details?: { type_url: string; value: Uint8Array }[];
  };
  const details: Record<string, Message> = {};
  for (const any of status.details ?? []) {
    const name = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = RPC_DETAILS.lookupType(name);
    details[name.slice('google.rpc.'.length)] = type.toObject(type.decode(any.value), {
      longs: Number,
    });
  }
  return { code: status.code, message: status.message, details };
}

/** The RFC 9457 problem in the `herald-problem-bin` trailer. */
export function readProblem(error: grpc.ServiceError): Record<string, unknown> {
  const [bytes] = error.metadata.get('herald-problem-bin');
  if (!Buffer.isBuffer(bytes)) throw new Error('no herald-problem-bin trailer');
  return JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
}

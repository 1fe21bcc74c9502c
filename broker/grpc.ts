/**
 * The broker's gRPC server (@grpc/grpc-js): herald.v1.EventBroker and the
 * open-cluster-management CloudEventService over the same ingest pipeline as HTTP. See
 * docs/grpc.md for the contract.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { GrpcIngest, type GrpcServiceOptions } from './grpc-ingest.js';
import {
  cloudEventServiceDefinition,
  createCloudEventServiceHandlers,
  createEventBrokerHandlers,
  eventBrokerDefinition,
} from './grpc-service.js';

export interface GrpcServerOptions extends GrpcServiceOptions {
  /** 0 = any free port (see RunningGrpcServer.port). */
  port: number;
  /** Interface to listen on; default all IPv4 interfaces. */
  host?: string;
  /** Largest request message accepted (the HTTP body limit); larger → RESOURCE_EXHAUSTED. */
  maxMessageBytes: number;
}

export interface RunningGrpcServer {
  /** The bound port. */
  port: number;
  /**
   * Stops accepting calls and lets those in flight finish; after `graceMs` the rest are cut.
   * Idempotent.
   */
  stop(graceMs: number): Promise<void>;
}

function formatAddress(host: string | undefined, port: number): string {
  const h = host ?? '0.0.0.0';
  return h.includes(':') && !h.startsWith('[') ? `[${h}]:${port}` : `${h}:${port}`;
}

export async function startGrpcServer(options: GrpcServerOptions): Promise<RunningGrpcServer> {
  const server = new Server({
    'grpc.max_receive_message_length': options.maxMessageBytes,
  });
  const ingest = new GrpcIngest(options);
  server.addService(eventBrokerDefinition, createEventBrokerHandlers(ingest));
  server.addService(cloudEventServiceDefinition, createCloudEventServiceHandlers(ingest));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(
      formatAddress(options.host, options.port),
      ServerCredentials.createInsecure(),
      (err, bound) => (err === null ? resolve(bound) : reject(err)),
    );
  });
  let stopped: Promise<void> | undefined;
  const stop = (graceMs: number): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  return { port, stop: (graceMs) => (stopped ??= stop(graceMs)) };
}

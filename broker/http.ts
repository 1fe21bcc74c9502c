/**
 * The broker's HTTP binding on plain node:http: routing, credentials, the body size limit,
 * decoding with Herald's codec, and turning receipts and problems into responses. The
 * pipeline itself lives in ingest.ts.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { decodeHttpRequest } from '../core/cloudevents/index.js';
import {
  CodecError,
  HttpContentMode,
  MediaType,
  type CloudEvent,
  type DecodedHttpRequest,
} from '../core/cloudevents/types.js';
import type { CompiledProducer } from '../core/config/model.js';
import type { Logger } from '../core/logging.js';
import type { AuthAttempt } from './auth/authenticator.js';
import { readHttpCredentials } from './auth/credentials.js';
import {
  wrapAsProblemError,
  type IngestListener,
  type IngestPipeline,
  type Receipt,
} from './ingest.js';
import { RouteLabel, TransportLabel, type BrokerMetrics } from './metrics.js';
import { matchRegistryRoute, type SchemaRegistry } from './registry.js';
import { carryTraceContext } from './tracing.js';
import {
  PROBLEM_CONTENT_TYPE,
  ProblemError,
  ProblemKind,
  RETRY_AFTER_SECONDS,
  buildProblem,
  mapCodecError,
  serializeProblem,
} from './problems.js';

export interface Readiness {
  ready: boolean;
  /** Each check's state, e.g. { nats: 'connected', config: 'loaded' }. */
  checks: Record<string, string>;
  /** Why not ready, for humans. */
  reasons: string[];
}

export interface HttpHandlerOptions {
  /** Undefined until NATS is connected and the config loaded: /events then answers 503. */
  getPipeline: () => IngestPipeline | undefined;
  metrics: BrokerMetrics;
  logger: Logger;
  maxBodyBytes: number;
  getReadiness: () => Readiness;
  /** True once stop() began: responses then close their connection. */
  isStopping: () => boolean;
  /** How long a request body may take to arrive once the headers are in: then 408. */
  bodyTimeoutMs: number;
  /** Undefined until the config is loaded: the registry routes then answer 503. */
  getRegistry?: () => SchemaRegistry | undefined;
}

const JSON_CONTENT_TYPE = `${MediaType.Json}; charset=utf-8`;

/** A `POST /events` whose body is arriving. */
interface BodyReader {
  req: IncomingMessage;
  res: ServerResponse;
  start: number;
  pipeline: IngestPipeline;
  attempt: AuthAttempt;
  chunks: Buffer[];
  size: number;
  /** performance.now() by which the whole body must be in, else 408. */
  deadline: number;
}
const HEALTH_METHODS = 'GET, HEAD';

export function createRequestHandler(
  options: HttpHandlerOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { metrics, logger, maxBodyBytes, getPipeline, getReadiness, isStopping } = options;

  function finish(
    req: IncomingMessage,
    res: ServerResponse,
    route: RouteLabel,
    start: number,
    status: number,
    headers: Record<string, string | number>,
    body: string,
  ): void {
    headers['content-length'] = Buffer.byteLength(body);
    if (isStopping()) headers.connection = 'close';
    res.writeHead(status, headers);
    res.end(body);
    metrics.observeRequest(route, req.method ?? '', status, (performance.now() - start) / 1000);
  }

  function sendProblem(
    req: IncomingMessage,
    res: ServerResponse,
    route: RouteLabel,
    start: number,
    error: ProblemError,
    producer?: CompiledProducer,
    closeConnection = false,
  ): void {
    const { problem } = error;
    const headers: Record<string, string | number> = {
      'content-type': PROBLEM_CONTENT_TYPE,
      ...error.headers,
    };
    if (closeConnection) headers.connection = 'close';
    finish(req, res, route, start, problem.status, headers, serializeProblem(problem));
    // One line per refusal: never the key, never the payload.
    const fields: Record<string, unknown> = {
      status: problem.status,
      problem: problem.type,
      reason: error.reason,
      method: req.method,
      path: route,
    };
    if (producer !== undefined) fields.producer = `${producer.namespace}/${producer.name}`;
    if (problem.status >= 500) logger.warn(fields, 'request refused');
    else logger.info(fields, 'request refused');
  }

  function refuseMethod(
    req: IncomingMessage,
    res: ServerResponse,
    route: RouteLabel,
    start: number,
    allow: string,
  ): void {
    const error = new ProblemError(
      ProblemKind.MethodNotAllowed,
      `${req.method} is not allowed on ${route}; use ${allow}.`,
      { headers: { allow } },
    );
    sendProblem(req, res, route, start, error);
  }

  /**
   * Bodies being read, in arrival order (so in deadline order: every body has the same time
   * limit). The listeners are shared by all requests and find their request here, so a
   * request costs one entry instead of a closure per callback and a timer of its own.
   */
  const readers = new Map<IncomingMessage, BodyReader>();
  let bodySweeper: NodeJS.Timeout | undefined;

  function handleEvents(req: IncomingMessage, res: ServerResponse, start: number): void {
    const route = RouteLabel.Events;
    const pipeline = getPipeline();
    // Once stopping, only requests already taken finish; new ones go to another replica.
    if (pipeline === undefined || isStopping()) {
      const error = new ProblemError(
        ProblemKind.NotReady,
        `The broker is not ready: ${getReadiness().reasons.join('; ')}.`,
        { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
      );
      return sendProblem(req, res, route, start, error);
    }
    // Authenticate before reading the body as far as possible: strangers cost no buffering.
    // An API key is done here; a signature (over the body) and a JWT (verifying meanwhile)
    // finish once the body is in.
    let attempt: AuthAttempt;
    try {
      attempt = pipeline.startAuthentication(readHttpCredentials(req.headers));
    } catch (err) {
      pipeline.recordRequestFailure(undefined, err);
      return sendProblem(req, res, route, start, wrapAsProblemError(err));
    }
    const reader: BodyReader = {
      req,
      res,
      start,
      pipeline,
      attempt,
      chunks: [],
      size: 0,
      deadline: performance.now() + options.bodyTimeoutMs,
    };
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > maxBodyBytes) return refuseTooLarge(reader);
    readers.set(req, reader);
    // A deadline for the whole body, not an idle timeout: a trickle cannot hold it open.
    bodySweeper ??= setTimeout(sweepBodies, options.bodyTimeoutMs);
    req.on('data', onBodyData);
    req.on('end', onBodyEnd);
    // A client that goes away mid-body gets no answer; nothing was stored.
    req.on('error', onBodyError);
  }

  function onBodyData(this: IncomingMessage, chunk: Buffer): void {
    const reader = readers.get(this);
    if (reader === undefined) return;
    reader.size += chunk.length;
    if (reader.size > maxBodyBytes) {
      stopReading(reader);
      refuseTooLarge(reader);
      return;
    }
    reader.chunks.push(chunk);
  }

  function onBodyEnd(this: IncomingMessage): void {
    const reader = readers.get(this);
    if (reader === undefined) return;
    readers.delete(this);
    const { req, res, start, pipeline, attempt, chunks, size } = reader;
    metrics.observeBodySize(TransportLabel.Http, size);
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
    reader.chunks = []; // the request object outlives the body: do not keep it alive
    const producer = attempt.producer;
    if (producer !== undefined) return handleBody(req, res, start, pipeline, producer, body);
    attempt.complete(body).then(
      (authenticated) => handleBody(req, res, start, pipeline, authenticated, body),
      (err: unknown) => {
        pipeline.recordRequestFailure(undefined, err);
        sendProblem(req, res, RouteLabel.Events, start, wrapAsProblemError(err));
      },
    );
  }

  function onBodyError(this: IncomingMessage): void {
    readers.delete(this);
    this.off('end', onBodyEnd);
  }

  /** Stops listening to a body that is refused: the refusal closes the connection. */
  function stopReading(reader: BodyReader): void {
    const { req } = reader;
    readers.delete(req);
    req.off('data', onBodyData);
    req.off('end', onBodyEnd);
    req.pause();
    reader.chunks = [];
  }

  function refuseTooLarge(reader: BodyReader): void {
    const error = new ProblemError(
      ProblemKind.PayloadTooLarge,
      `The request body exceeds the limit of ${maxBodyBytes} bytes.`,
      { extensions: { maxBodyBytes }, reason: `body over ${maxBodyBytes} bytes` },
    );
    reader.pipeline.recordRequestFailure(reader.attempt.producer, error);
    // Close the connection: the rest of the body is never read.
    const { req, res, start, attempt } = reader;
    sendProblem(req, res, RouteLabel.Events, start, error, attempt.producer, true);
  }

  /** Answers 408 for bodies past their deadline; re-arms for the oldest one still coming. */
  function sweepBodies(): void {
    bodySweeper = undefined;
    const now = performance.now();
    for (const [req, reader] of readers) {
      if (reader.deadline > now) {
        bodySweeper = setTimeout(sweepBodies, Math.max(1, reader.deadline - now));
        return;
      }
      readers.delete(req);
      if (req.destroyed) continue;
      stopReading(reader);
      const error = new ProblemError(
        ProblemKind.RequestTimeout,
        `The request body did not arrive within ${options.bodyTimeoutMs} ms.`,
        { reason: `body incomplete after ${options.bodyTimeoutMs} ms (${reader.size} bytes)` },
      );
      const { res, start, pipeline, attempt } = reader;
      pipeline.recordRequestFailure(attempt.producer, error);
      sendProblem(req, res, RouteLabel.Events, start, error, attempt.producer, true);
    }
  }

  function handleBody(
    req: IncomingMessage,
    res: ServerResponse,
    start: number,
    pipeline: IngestPipeline,
    producer: CompiledProducer,
    body: Uint8Array,
  ): void {
    const route = RouteLabel.Events;
    let decoded: DecodedHttpRequest;
    try {
      decoded = decodeHttpRequest(selectHeadersForDecoding(req), body);
    } catch (err) {
      const error = err instanceof CodecError ? mapCodecError(err) : wrapAsProblemError(err);
      pipeline.recordRequestFailure(producer, error);
      return sendProblem(req, res, route, start, error, producer);
    }
    const { traceparent } = req.headers;
    if (traceparent !== undefined) {
      carryTraceContext(decoded.events, traceparent, req.headers.tracestate);
    }
    const responder = new EventsResponder(req, res, start, producer);
    if (decoded.mode === HttpContentMode.Batch) {
      pipeline.ingestBatch(producer, decoded.events).then(
        (receipts) => responder.onAccepted(receipts),
        (err: unknown) => responder.onRefused(err),
      );
    } else {
      pipeline.ingestOneTo(producer, decoded.events[0] as CloudEvent, responder);
    }
  }

  /** Answers one POST /events with its receipts (202) or its problem. */
  class EventsResponder implements IngestListener {
    constructor(
      private readonly req: IncomingMessage,
      private readonly res: ServerResponse,
      private readonly start: number,
      private readonly producer: CompiledProducer,
    ) {}

    onAccepted(receipts: Receipt | Receipt[]): void {
      const body = JSON.stringify(receipts);
      const headers = { 'content-type': JSON_CONTENT_TYPE };
      finish(this.req, this.res, RouteLabel.Events, this.start, 202, headers, body);
    }

    onRefused(err: unknown): void {
      const error = wrapAsProblemError(err);
      sendProblem(this.req, this.res, RouteLabel.Events, this.start, error, this.producer);
    }
  }

  function handleReadyz(req: IncomingMessage, res: ServerResponse, start: number): void {
    const readiness = getReadiness();
    if (readiness.ready) {
      const body = JSON.stringify({ status: 'ready', checks: readiness.checks });
      return finish(
        req,
        res,
        RouteLabel.Readyz,
        start,
        200,
        { 'content-type': JSON_CONTENT_TYPE },
        body,
      );
    }
    const problem = buildProblem(
      ProblemKind.NotReady,
      `The broker is not ready: ${readiness.reasons.join('; ')}.`,
      { checks: readiness.checks },
    );
    // Probes are frequent: not logged.
    finish(
      req,
      res,
      RouteLabel.Readyz,
      start,
      problem.status,
      { 'content-type': PROBLEM_CONTENT_TYPE, 'retry-after': String(RETRY_AFTER_SECONDS) },
      serializeProblem(problem),
    );
  }

  function handleMetrics(req: IncomingMessage, res: ServerResponse, start: number): void {
    metrics.registry.metrics().then(
      (text) =>
        finish(
          req,
          res,
          RouteLabel.Metrics,
          start,
          200,
          {
            'content-type': metrics.registry.contentType,
          },
          text,
        ),
      (err: unknown) => sendProblem(req, res, RouteLabel.Metrics, start, wrapAsProblemError(err)),
    );
  }

  function handleRegistry(
    req: IncomingMessage,
    res: ServerResponse,
    start: number,
    route: RouteLabel,
    path: string,
  ): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return refuseMethod(req, res, route, start, HEALTH_METHODS);
    }
    const registry = options.getRegistry?.();
    if (registry === undefined || isStopping()) {
      const error = new ProblemError(
        ProblemKind.NotReady,
        `The broker is not ready: ${getReadiness().reasons.join('; ') || 'no schema registry'}.`,
        { headers: { 'retry-after': String(RETRY_AFTER_SECONDS) } },
      );
      return sendProblem(req, res, route, start, error);
    }
    registry.serve(route, path, req.headers).then(
      (reply) => {
        if (reply.status !== 304) {
          return finish(req, res, route, start, reply.status, reply.headers, reply.body);
        }
        // A 304 carries no Content-Length but the 200's (RFC 9110 §8.6): send none.
        if (isStopping()) reply.headers.connection = 'close';
        res.writeHead(304, reply.headers).end();
        metrics.observeRequest(route, req.method ?? '', 304, (performance.now() - start) / 1000);
      },
      (err: unknown) => sendProblem(req, res, route, start, wrapAsProblemError(err)),
    );
  }

  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const method = req.method;
    const isRead = method === 'GET' || method === 'HEAD';
    switch (path) {
      case '/events':
        if (method === 'POST') return handleEvents(req, res, start);
        return refuseMethod(req, res, RouteLabel.Events, start, 'POST');
      case '/healthz':
        if (!isRead) return refuseMethod(req, res, RouteLabel.Healthz, start, HEALTH_METHODS);
        return finish(
          req,
          res,
          RouteLabel.Healthz,
          start,
          200,
          {
            'content-type': JSON_CONTENT_TYPE,
          },
          '{"status":"ok"}',
        );
      case '/readyz':
        if (!isRead) return refuseMethod(req, res, RouteLabel.Readyz, start, HEALTH_METHODS);
        return handleReadyz(req, res, start);
      case '/metrics':
        if (!isRead) return refuseMethod(req, res, RouteLabel.Metrics, start, HEALTH_METHODS);
        return handleMetrics(req, res, start);
      default: {
        const registryRoute = matchRegistryRoute(path);
        if (registryRoute !== undefined) {
          return handleRegistry(req, res, start, registryRoute, path);
        }
        const error = new ProblemError(ProblemKind.NotFound, `No resource at ${path}.`, {
          reason: 'unknown path',
        });
        return sendProblem(req, res, RouteLabel.Other, start, error);
      }
    }
  };
}

/**
 * Node joins a repeated header into one "a, b" value, hiding the repetition the HTTP binding
 * forbids for ce- headers. A conforming sender percent-encodes spaces, so only when a ce-
 * value holds a comma is the raw header list consulted (repeated names become arrays).
 */
function selectHeadersForDecoding(req: IncomingMessage): IncomingHttpHeaders {
  for (const name in req.headers) {
    if (name.startsWith('ce-') && req.headers[name]?.includes(',')) {
      return collectRawHeaders(req.rawHeaders);
    }
  }
  return req.headers;
}

function collectRawHeaders(raw: string[]): IncomingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    const value = raw[i + 1] as string;
    const previous = out[name];
    out[name] =
      previous === undefined
        ? value
        : Array.isArray(previous)
          ? [...previous, value]
          : [previous, value];
  }
  return out as IncomingHttpHeaders;
}

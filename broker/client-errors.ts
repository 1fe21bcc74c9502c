/**
 * What node:http refuses before the request handler runs — headers over `maxHeaderSize`
 * (431), headers or a whole request not received in time (408), unparseable HTTP (400) — is
 * answered with the same problem+json bodies as everything else and logged once, instead of
 * node's bare status lines. The connection is closed: its remaining bytes are not HTTP we
 * can trust.
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../core/logging.js';
import { PROBLEM_CONTENT_TYPE, ProblemKind, buildProblem, serializeProblem } from './problems.js';

interface ClientErrorKind {
  kind: ProblemKind;
  detail: string;
}

function classifyClientError(
  code: string | undefined,
  maxHeaderBytes: number,
): ClientErrorKind | undefined {
  if (code === 'HPE_HEADER_OVERFLOW') {
    return {
      kind: ProblemKind.HeaderFieldsTooLarge,
      detail: `The request line and headers exceed the limit of ${maxHeaderBytes} bytes.`,
    };
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      kind: ProblemKind.RequestTimeout,
      detail: 'The request headers or body did not arrive in time.',
    };
  }
  if (code !== undefined && code.startsWith('HPE_')) {
    return { kind: ProblemKind.BadRequest, detail: 'The request is not valid HTTP/1.1.' };
  }
  return undefined;
}

/** Whether a response was already started on this socket (then only closing is left). */
function isResponseStarted(socket: Duplex): boolean {
  const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  return pending?.headersSent === true;
}

/** A `clientError` listener for the broker's HTTP server. */
export function createClientErrorListener(
  logger: Logger,
  maxHeaderBytes: number,
): (err: Error & { code?: string }, socket: Duplex) => void {
  return (err, socket) => {
    const classified = classifyClientError(err.code, maxHeaderBytes);
    // Resets and the like: the client is gone, nobody to answer.
    if (classified === undefined || !socket.writable || isResponseStarted(socket)) {
      socket.destroy();
      return;
    }
    const problem = buildProblem(classified.kind, classified.detail);
    const body = serializeProblem(problem);
    socket.end(
      `HTTP/1.1 ${problem.status} ${STATUS_CODES[problem.status] ?? ''}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
    // Never the raw packet: it may hold credentials.
    logger.info(
      { status: problem.status, problem: problem.type, reason: err.code },
      'request refused',
    );
  };
}

/**
 * A raw HTTP/1.1 client on a net.Socket, for what undici will not do: half-sent headers or
 * bodies, and reading several responses (100 Continue, then the final one) off one socket.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface RawResponse {
  status: number;
  /** Lower-case names. */
  headers: Record<string, string>;
  body: string;
}

export interface RawConnection {
  socket: Socket;
  write(text: string): Promise<void>;
  /** The next response on the socket; rejects if the socket ends before one is complete. */
  readResponse(): Promise<RawResponse>;
  /** Resolves when the server has closed its side. */
  ended: Promise<void>;
  close(): void;
}

export async function openRawConnection(port: number): Promise<RawConnection> {
  const socket = connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  let buffer = Buffer.alloc(0);
  let isEnded = false;
  let wake: (() => void) | undefined;
  const ended = new Promise<void>((resolve) => {
    const onEnd = (): void => {
      isEnded = true;
      wake?.();
      resolve();
    };
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    wake?.();
  });
  socket.on('error', () => {}); // resets surface as `ended`

  /** A complete response at the head of the buffer, removed from it; else undefined. */
  function takeResponse(): RawResponse | undefined {
    const headEnd = buffer.indexOf('\r\n\r\n');
    if (headEnd === -1) return undefined;
    const [statusLine = '', ...lines] = buffer
      .subarray(0, headEnd)
      .toString('latin1')
      .split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const status = Number(statusLine.split(' ')[1]);
    const length = status === 100 || status === 304 ? 0 : Number(headers['content-length'] ?? 0);
    const total = headEnd + 4 + length;
    if (buffer.length < total) return undefined;
    const body = buffer.subarray(headEnd + 4, total).toString('utf8');
    buffer = buffer.subarray(total);
    return { status, headers, body };
  }

  return {
    socket,
    ended,
    async write(text) {
      await new Promise<void>((resolve, reject) =>
        socket.write(text, (err) => (err ? reject(err) : resolve())),
      );
    },
    async readResponse() {
      for (;;) {
        const response = takeResponse();
        if (response !== undefined) return response;
        if (isEnded) throw new Error(`connection ended; unparsed: ${buffer.toString('latin1')}`);
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    close() {
      socket.destroy();
    },
  };
}

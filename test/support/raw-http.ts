/**
 * A raw HTTP/1.1 client over a socket, for requests that fetch and node:http refuse to send:
 * non-UTF-8 header bytes, repeated headers, lying Content-Length, half-sent bodies.
 */
import { connect } from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `head` (request line + headers, CRLF-separated, without the blank line) and `body`; reads until close. */
export function sendRawRequest(
  port: number,
  head: string | Buffer,
  body: Buffer | string = '',
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      if (split < 0)
        return reject(new Error(`no HTTP response: ${JSON.stringify(text.slice(0, 200))}`));
      const [statusLine, ...lines] = text.slice(0, split).split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      let rest = text.slice(split + 4);
      if (headers['transfer-encoding'] === 'chunked') rest = decodeChunked(rest);
      resolve({
        status: Number(statusLine?.split(' ')[1]),
        headers,
        body: Buffer.from(rest, 'latin1').toString('utf8'),
      });
    });
    const headBytes = typeof head === 'string' ? Buffer.from(head, 'latin1') : head;
    socket.write(
      Buffer.concat([headBytes, Buffer.from('\r\nConnection: close\r\n\r\n', 'latin1')]),
    );
    // No half-close: the server answers and closes (Connection: close).
    socket.write(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
  });
}

function decodeChunked(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const nl = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return out;
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

/**
 * A local OAuth 2.0 token endpoint for the oauth2 tests (node:http): records each token
 * request with its client credentials decoded from HTTP Basic the way RFC 6749 §2.3.1 says a
 * server must (base64, split at the first `:`, each part form-urldecoded), and answers as the
 * test's responder says.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  form: URLSearchParams;
  /** From `Authorization: Basic`; undefined when absent or malformed. */
  clientId?: string;
  clientSecret?: string;
}

export interface TokenReply {
  status?: number;
  /** Sent as JSON (a string is sent as is). */
  body: unknown;
  delayMs?: number;
}

export type TokenResponder = (req: TokenRequest, index: number) => TokenReply;

export interface TokenEndpoint {
  url: string;
  requests: TokenRequest[];
  /** Resolves once `count` token requests have arrived. */
  waitForRequests(count: number, timeoutMs?: number): Promise<TokenRequest[]>;
  stop(): Promise<void>;
}

/** Issues `tok-1`, `tok-2`, … (Bearer, one hour) to whoever presents these credentials. */
export function issueTokensTo(clientId: string, clientSecret: string): TokenResponder {
  let issued = 0;
  return (req) => {
    if (req.clientId !== clientId || req.clientSecret !== clientSecret) {
      return {
        status: 401,
        body: { error: 'invalid_client', error_description: 'client authentication failed' },
      };
    }
    issued += 1;
    return { body: { access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600 } };
  };
}

const formDecode = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));

function decodeBasic(header: string | undefined): { clientId?: string; clientSecret?: string } {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '');
  if (!match?.[1]) return {};
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return {};
  return {
    clientId: formDecode(decoded.slice(0, colon)),
    clientSecret: formDecode(decoded.slice(colon + 1)),
  };
}

export async function startTokenEndpoint(
  respond: TokenResponder,
  host = '127.0.0.1',
): Promise<TokenEndpoint> {
  const requests: TokenRequest[] = [];
  let waiters: { count: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: TokenRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
        ...decodeBasic(req.headers.authorization),
      };
      const index = requests.push(recorded) - 1;
      const reply = respond(recorded, index);
      const answer = () =>
        res
          .writeHead(reply.status ?? 200, {
            'content-type': 'application/json',
            'cache-control': 'no-store',
          })
          .end(typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body));
      if (reply.delayMs) setTimeout(answer, reply.delayMs);
      else answer();
      waiters = waiters.filter((w) => (requests.length >= w.count ? (w.resolve(), false) : true));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}/oauth/token`,
    requests,
    waitForRequests(count, timeoutMs = 15_000) {
      if (requests.length >= count) return Promise.resolve(requests.slice());
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`token endpoint saw ${requests.length} of ${count} requests`)),
          timeoutMs,
        );
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests.slice());
          },
        });
      });
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

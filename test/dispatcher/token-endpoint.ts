/**
 * A local OAuth 2.0 token endpoint for the oauth2 tests (node:http): records each token
 * request with its client credentials — from HTTP Basic decoded the way RFC 6749 §2.3.1 says a
 * server must (base64, split at the first `:`, each part form-urldecoded), or from the form
 * (client_secret_post) — and answers as the test's responder says. issueTokensForAssertions
 * checks RFC 7523 client assertions the way an identity provider does.
 */
import { verify, type KeyObject, type X509Certificate } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TokenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  form: URLSearchParams;
  /** How the client authenticated: HTTP Basic, client_id/client_secret in the form, or neither. */
  authMethod: 'basic' | 'post' | 'none';
  /** From `Authorization: Basic`, or from the form when there is no Basic header. */
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

const INVALID_CLIENT: TokenReply = {
  status: 401,
  body: { error: 'invalid_client', error_description: 'client authentication failed' },
};

/**
 * Issues `tok-1`, `tok-2`, … (Bearer, one hour) to whoever presents these credentials, by
 * `method` (default: either).
 */
export function issueTokensTo(
  clientId: string,
  clientSecret: string,
  method?: 'basic' | 'post',
): TokenResponder {
  let issued = 0;
  return (req) => {
    const wrongMethod = method !== undefined && req.authMethod !== method;
    if (wrongMethod || req.clientId !== clientId || req.clientSecret !== clientSecret) {
      return INVALID_CLIENT;
    }
    issued += 1;
    return { body: { access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600 } };
  };
}

export interface CheckedAssertion {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

/**
 * Checks an RFC 7523 client assertion as an identity provider does: the assertion type, the
 * signature with `publicKey`, iss = sub = the client id, `aud`, a `jti` not seen before, and a
 * current `exp`. Returns what it found, or why it refuses.
 */
export function checkAssertion(
  req: TokenRequest,
  o: { clientId: string; publicKey: KeyObject; audience: string; seen: Set<string> },
): CheckedAssertion | string {
  if (
    req.form.get('client_assertion_type') !==
    'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
  ) {
    return 'wrong client_assertion_type';
  }
  const [h, p, sig] = (req.form.get('client_assertion') ?? '').split('.');
  if (!h || !p || !sig) return 'not a compact JWS';
  const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, unknown>;
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
  const ec = header.alg === 'ES256';
  if (header.alg !== 'RS256' && !ec) return `alg ${String(header.alg)}`;
  const signed = verify(
    'sha256',
    Buffer.from(`${h}.${p}`),
    ec ? { key: o.publicKey, dsaEncoding: 'ieee-p1363' } : o.publicKey,
    Buffer.from(sig, 'base64url'),
  );
  if (!signed) return 'bad signature';
  if (claims.iss !== o.clientId || claims.sub !== o.clientId) return 'wrong iss or sub';
  if (claims.aud !== o.audience) return `wrong aud ${String(claims.aud)}`;
  const now = Date.now() / 1000;
  if (typeof claims.exp !== 'number' || claims.exp < now || claims.exp > now + 300) {
    return 'exp not within 5 minutes';
  }
  if (typeof claims.jti !== 'string' || o.seen.has(claims.jti)) return 'jti reused';
  o.seen.add(claims.jti);
  return { header, claims };
}

/** Issues `tok-1`, `tok-2`, … to requests whose client assertion checkAssertion accepts. */
export function issueTokensForAssertions(o: {
  clientId: string;
  publicKey: KeyObject;
  /** Default: the endpoint's own URL. */
  audience?: string;
  checked?: CheckedAssertion[];
}): TokenResponder {
  let issued = 0;
  const seen = new Set<string>();
  return (req) => {
    const audience = o.audience ?? `http://${String(req.headers.host)}${req.path}`;
    const checked = checkAssertion(req, { ...o, audience, seen });
    if (typeof checked === 'string') {
      return { status: 401, body: { error: 'invalid_client', error_description: checked } };
    }
    o.checked?.push(checked);
    issued += 1;
    return { body: { access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: 3600 } };
  };
}

/** `x5t` and `x5t#S256` of a certificate: its SHA-1 and SHA-256 fingerprints, base64url. */
export function thumbprintsOf(cert: X509Certificate): { x5t: string; x5tS256: string } {
  const b64url = (hex: string) => Buffer.from(hex.replace(/:/g, ''), 'hex').toString('base64url');
  return { x5t: b64url(cert.fingerprint), x5tS256: b64url(cert.fingerprint256) };
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
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const basic = decodeBasic(req.headers.authorization);
      const inForm = form.has('client_secret');
      const recorded: TokenRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        form,
        authMethod: basic.clientId !== undefined ? 'basic' : inForm ? 'post' : 'none',
        ...(basic.clientId !== undefined
          ? basic
          : inForm && {
              clientId: form.get('client_id') ?? undefined,
              clientSecret: form.get('client_secret') ?? undefined,
            }),
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

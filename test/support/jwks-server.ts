/**
 * A local identity provider for JWT tests: serves a JWK set on 127.0.0.1 (port 0), signs
 * tokens with jose, rotates keys, and counts fetches. It can also fail on purpose (an outage).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  SignJWT,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';

export type SigningAlg = 'RS256' | 'ES256' | 'EdDSA';

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export interface TokenOptions {
  /** Seconds from now; default +300. Negative = already expired. */
  expiresIn?: number;
  /** Seconds from now for `nbf`. */
  notBefore?: number;
  /** Leave out `exp` altogether. */
  noExpiry?: boolean;
}

export interface TestJwksServer {
  /** The JWKS URL (`/jwks.json`). */
  readonly jwksUri: string;
  readonly issuer: string;
  /** How many times the JWK set was fetched. */
  readonly fetches: number;
  /** Makes a key; `publish: false` keeps it out of the JWK set (a key the IdP never announced). */
  createKey(alg: SigningAlg, options?: { publish?: boolean; kid?: string }): Promise<SigningKey>;
  /** Adds an existing key to the JWK set (a rotation). */
  publish(key: SigningKey): void;
  unpublish(key: SigningKey): void;
  /** Answer every fetch with this status instead of the set (0 = back to normal). */
  failWith(status: number): void;
  sign(key: SigningKey, claims: JWTPayload, options?: TokenOptions): Promise<string>;
  stop(): Promise<void>;
}

export async function startJwksServer(): Promise<TestJwksServer> {
  const published = new Map<string, JWK>();
  let fetches = 0;
  let failure = 0;
  let counter = 0;
  const server: Server = createServer((req, res) => {
    if (req.url?.split('?')[0] !== '/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    if (failure !== 0) {
      res.writeHead(failure, { 'content-type': 'text/plain' }).end('unavailable');
      return;
    }
    const body = JSON.stringify({ keys: [...published.values()] });
    res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    jwksUri: `${base}/jwks.json`,
    issuer: base,
    get fetches() {
      return fetches;
    },
    async createKey(alg, options = {}) {
      const { privateKey, publicKey } = await generateKeyPair(alg);
      const kid = options.kid ?? `${alg.toLowerCase()}-${++counter}`;
      const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
      const key = { kid, alg, privateKey, publicJwk };
      if (options.publish !== false) published.set(kid, publicJwk);
      return key;
    },
    publish(key) {
      published.set(key.kid, key.publicJwk);
    },
    unpublish(key) {
      published.delete(key.kid);
    },
    failWith(status) {
      failure = status;
    },
    async sign(key, claims, options = {}) {
      const now = Math.floor(Date.now() / 1000);
      const jwt = new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT' })
        .setIssuedAt(now);
      if (!options.noExpiry) jwt.setExpirationTime(now + (options.expiresIn ?? 300));
      if (options.notBefore !== undefined) jwt.setNotBefore(now + options.notBefore);
      return jwt.sign(key.privateKey);
    },
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

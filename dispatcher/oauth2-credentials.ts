/**
 * One OAuth 2.0 client at one token endpoint (`sink.auth.oauth2`) and the token request it
 * sends: `grant_type=client_credentials` with the scopes and the extra parameters, the client
 * authenticated by `basic` (client_secret_basic), `post` (client_secret_post) or
 * `privateKeyJwt` (an RFC 7523 client assertion, signed afresh for every request). The secret
 * and the key stay in private fields, and toJSON is redacted, so logging one leaks nothing.
 */
import { createHash } from 'node:crypto';
import {
  CLIENT_ASSERTION_TYPE,
  signClientAssertion,
  type AssertionKey,
  type CertificateThumbprints,
} from '../core/oauth2-client-assertion.js';

export type OAuth2ClientAuthentication = 'basic' | 'post' | 'privateKeyJwt';

/** privateKeyJwt: the parsed key and what else goes into each assertion. */
export interface OAuth2PrivateKey {
  key: AssertionKey;
  keyId?: string;
  thumbprints?: CertificateThumbprints;
  /** The assertion's `aud`; default the token URL. */
  audience?: string;
}

export interface OAuth2CredentialsOptions {
  tokenUrl: URL;
  clientId: string;
  scopes: readonly string[];
  userAgent: string;
  /** Default basic. */
  clientAuthentication?: OAuth2ClientAuthentication;
  /** basic and post. */
  clientSecret?: string;
  /** privateKeyJwt. */
  privateKey?: OAuth2PrivateKey;
  /** Extra form parameters (`audience`, `resource`, …); never those set here. */
  parameters?: Readonly<Record<string, string>>;
}

export interface TokenRequest {
  headers: Record<string, string>;
  body: string;
}

/**
 * A compact JWS (an assertion, or a token an endpoint echoes), whole or cut short: base64url
 * of `{"` followed by more base64url and dots. Cut out of any message.
 */
const JWS = /eyJ[\w-]+(?:\.[\w-]*){0,2}/g;

export class OAuth2Credentials {
  readonly tokenUrl: URL;
  readonly clientId: string;
  readonly scopes: readonly string[];
  readonly clientAuthentication: OAuth2ClientAuthentication;
  readonly parameters: Readonly<Record<string, string>>;
  /**
   * What tokens are cached and shared under: endpoint, client id, scopes, parameters, method
   * and a hash of the secret (or key). The hash keeps a Subscription holding a wrong secret (or
   * another tenant's client id) from riding on a token fetched with the right one.
   */
  readonly cacheKey: string;
  readonly #clientSecret: string;
  readonly #privateKey: OAuth2PrivateKey | undefined;
  readonly #userAgent: string;

  constructor(options: OAuth2CredentialsOptions) {
    this.tokenUrl = options.tokenUrl;
    this.clientId = options.clientId;
    this.scopes = [...options.scopes];
    this.clientAuthentication = options.clientAuthentication ?? 'basic';
    this.parameters = { ...options.parameters };
    this.#clientSecret = options.clientSecret ?? '';
    this.#privateKey = options.privateKey;
    this.#userAgent = options.userAgent;
    if (this.clientAuthentication === 'privateKeyJwt' && !this.#privateKey) {
      throw new TypeError('privateKeyJwt needs a private key');
    }
    const credential = createHash('sha256').update(this.describeCredential()).digest('base64url');
    const parameters = Object.entries(this.parameters).sort(([a], [b]) => (a < b ? -1 : 1));
    this.cacheKey = JSON.stringify([
      this.tokenUrl.href,
      this.clientId,
      this.scopes,
      parameters,
      this.clientAuthentication,
      credential,
    ]);
  }

  /** The endpoint as messages show it: origin and path, never the query. */
  get endpoint(): string {
    return `${this.tokenUrl.origin}${this.tokenUrl.pathname}`;
  }

  /**
   * The token request: `grant_type=client_credentials`, `scope` (space-separated) when there
   * are scopes, the extra parameters, then the client authentication (RFC 6749 §2.3.1, RFC 7523
   * §2.2). `nowSeconds` dates a client assertion.
   */
  buildTokenRequest(nowSeconds: number): TokenRequest {
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (this.scopes.length > 0) form.set('scope', this.scopes.join(' '));
    for (const [name, value] of Object.entries(this.parameters)) form.set(name, value);
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      'user-agent': this.#userAgent,
    };
    switch (this.clientAuthentication) {
      case 'basic': {
        // Each part form-urlencoded before joining (§2.3.1), so a `:` in the id is no separator.
        const pair = `${formUrlEncode(this.clientId)}:${formUrlEncode(this.#clientSecret)}`;
        headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
        break;
      }
      case 'post':
        form.set('client_id', this.clientId);
        form.set('client_secret', this.#clientSecret);
        break;
      case 'privateKeyJwt': {
        const key = this.#privateKey as OAuth2PrivateKey;
        // client_id is optional beside an assertion (RFC 7523 §3), but Okta and Keycloak use it.
        form.set('client_id', this.clientId);
        form.set('client_assertion_type', CLIENT_ASSERTION_TYPE);
        form.set(
          'client_assertion',
          signClientAssertion({
            key: key.key,
            clientId: this.clientId,
            audience: key.audience ?? this.tokenUrl.href,
            ...(key.keyId !== undefined && { keyId: key.keyId }),
            ...(key.thumbprints && { thumbprints: key.thumbprints }),
            nowSeconds,
          }),
        );
        break;
      }
    }
    return { headers, body: form.toString() };
  }

  /**
   * `text` with the client secret (raw or form-encoded) and anything shaped like a JWS (an
   * assertion or a token) cut out, should an endpoint echo them.
   */
  redact(text: string): string {
    let out = text.replace(JWS, '[redacted]');
    for (const form of new Set([this.#clientSecret, formUrlEncode(this.#clientSecret)])) {
      if (form.length > 0) out = out.split(form).join('[redacted]');
    }
    return out;
  }

  toJSON(): Record<string, unknown> {
    const parameterNames = Object.keys(this.parameters);
    return {
      tokenEndpoint: this.endpoint,
      clientId: this.clientId,
      scopes: this.scopes,
      clientAuthentication: this.clientAuthentication,
      ...(parameterNames.length > 0 && { parameters: parameterNames }),
      ...(this.#privateKey?.keyId !== undefined && { keyId: this.#privateKey.keyId }),
    };
  }

  /** The secret, or the key and what its assertions say, for the cache key's hash. */
  private describeCredential(): string {
    const key = this.#privateKey;
    if (this.clientAuthentication !== 'privateKeyJwt' || !key) return this.#clientSecret;
    const der = key.key.key.export({ type: 'pkcs8', format: 'der' }).toString('base64');
    return JSON.stringify([der, key.key.algorithm, key.keyId, key.audience, key.thumbprints]);
  }
}

/** application/x-www-form-urlencoded encoding of one value (space as `+`). */
export function formUrlEncode(value: string): string {
  return new URLSearchParams([['', value]]).toString().slice(1);
}

/**
 * RFC 7523 client assertions for `sink.auth.oauth2` with `clientAuthentication: privateKeyJwt`
 * (OpenID Connect Core §9 `private_key_jwt`): a short-lived JWT signed with the client's
 * private key stands in for a client secret at the token endpoint. Shared by the operator,
 * which checks keys and certificates when it compiles, and the dispatcher, which signs.
 * Messages name what is wrong with a key, never any of its content.
 */
import {
  createHash,
  createPrivateKey,
  randomUUID,
  sign,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { ErrorCode, HeraldError } from './errors.js';

export type AssertionAlgorithm = 'RS256' | 'ES256';

/** `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2). */
export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** An assertion is used once, at once; Auth0 accepts at most 5 minutes, Okta 1 hour. */
export const CLIENT_ASSERTION_LIFETIME_S = 120;
/** Shorter RSA keys are refused (NIST SP 800-131A; Entra ID and Okta ask for 2048 too). */
export const MIN_RSA_KEY_BITS = 2048;

export interface AssertionKey {
  key: KeyObject;
  algorithm: AssertionAlgorithm;
}

/** Both thumbprints of the key's certificate (RFC 7515 §4.1.7–8), base64url. */
export interface CertificateThumbprints {
  x5t: string;
  x5tS256: string;
}

function createKeyError(why: string, cause?: unknown): HeraldError {
  return new HeraldError(ErrorCode.InvalidOAuth2Key, why, cause ? { cause } : undefined);
}

/**
 * The private key of a PEM text (PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted) and the algorithm
 * it signs with: `algorithm` when given and fitting the key, else RS256 for RSA and ES256 for
 * EC P-256. Throws ERR_INVALID_OAUTH2_KEY for anything else.
 */
export function readAssertionKey(pem: string, algorithm?: AssertionAlgorithm): AssertionKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (cause) {
    // The cause is kept for the code only: OpenSSL's text never holds key material.
    throw createKeyError('not an unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)', cause);
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_KEY_BITS) {
      throw createKeyError(`an RSA key of ${bits} bits; at least ${MIN_RSA_KEY_BITS} are needed`);
    }
    if (algorithm === 'ES256') throw createKeyError('ES256 needs an EC P-256 key, not an RSA key');
    return { key, algorithm: 'RS256' };
  }
  if (type === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1') {
      throw createKeyError(`an EC key on curve ${curve ?? 'unknown'}; ES256 needs P-256`);
    }
    if (algorithm === 'RS256') throw createKeyError('RS256 needs an RSA key, not an EC key');
    return { key, algorithm: 'ES256' };
  }
  throw createKeyError(`a ${type ?? 'unknown'} key; RSA (RS256) or EC P-256 (ES256) is needed`);
}

/**
 * The thumbprints of the first certificate of a PEM text (the leaf of a chain such as a
 * kubernetes.io/tls Secret's tls.crt), after checking that it belongs to `key`.
 */
export function readCertificateThumbprints(pem: string, key: KeyObject): CertificateThumbprints {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch (cause) {
    throw createKeyError('not a PEM certificate', cause);
  }
  if (!cert.checkPrivateKey(key))
    throw createKeyError('a certificate of another key than privateKey.secretRef');
  return {
    x5t: createHash('sha1').update(cert.raw).digest('base64url'),
    x5tS256: createHash('sha256').update(cert.raw).digest('base64url'),
  };
}

export interface ClientAssertionOptions {
  key: AssertionKey;
  clientId: string;
  /** `aud`: the token endpoint URL, or the authorization server's issuer. */
  audience: string;
  keyId?: string;
  thumbprints?: CertificateThumbprints;
  nowSeconds: number;
}

/**
 * One client assertion: `iss` and `sub` the client id, `aud`, a fresh `jti`, `iat` = `nbf` =
 * now and `exp` CLIENT_ASSERTION_LIFETIME_S later (RFC 7523 §3; Entra ID requires `nbf`).
 */
export function signClientAssertion(o: ClientAssertionOptions): string {
  const header: Record<string, string> = { alg: o.key.algorithm, typ: 'JWT' };
  if (o.keyId !== undefined) header.kid = o.keyId;
  if (o.thumbprints) {
    header.x5t = o.thumbprints.x5t;
    header['x5t#S256'] = o.thumbprints.x5tS256;
  }
  const payload = {
    iss: o.clientId,
    sub: o.clientId,
    aud: o.audience,
    jti: randomUUID(),
    iat: o.nowSeconds,
    nbf: o.nowSeconds,
    exp: o.nowSeconds + CLIENT_ASSERTION_LIFETIME_S,
  };
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode(header)}.${encode(payload)}`;
  // JWS wants ECDSA signatures as r‖s (RFC 7518 §3.4), not DER.
  const signature =
    o.key.algorithm === 'ES256'
      ? sign('sha256', Buffer.from(input), { key: o.key.key, dsaEncoding: 'ieee-p1363' })
      : sign('sha256', Buffer.from(input), o.key.key);
  return `${input}.${signature.toString('base64url')}`;
}

/**
 * Bearer JWTs from a producer's identity provider. The producer is chosen from the token's
 * unverified `iss`, `aud` and `sub` (docs/producer-auth.md); the token is then verified
 * against that producer's settings only: signature by a key of its `jwksUri` (RS256, ES256 or
 * EdDSA), `iss`, `aud`, `sub` when pinned, `exp` required, `nbf`, small clock tolerance.
 * Keys come from jose's remote JWK set, one per `jwksUri`: fetched on first use, cached,
 * refetched when a token names an unknown `kid` (at most once per cooldown). Nothing is
 * fetched from anywhere but a configured `jwksUri` (no `jku`/`x5u`, no redirects).
 */
import {
  createRemoteJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { ConfigCache } from '../../core/config/kv.js';
import type { CompiledProducer } from '../../core/config/model.js';
import { ConfigKeyPrefix } from '../../core/topology.js';
import type { ProblemError } from '../problems.js';
import { AuthFailure, refuseToken, refuseUnavailable } from './auth-problems.js';

/** Asymmetric algorithms only: an HMAC-signed (HS256) or unsigned (`none`) token never passes. */
export const JWT_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
const ALLOWED = new Set<string>(JWT_ALGORITHMS);

export interface JwtVerifierOptions {
  cache: ConfigCache;
  clockToleranceSeconds: number;
  /** Least time between two JWKS fetches caused by unknown `kid`s (jose's cooldown). */
  jwksCooldownMs: number;
  /** A JWKS older than this is refetched before use. */
  jwksCacheMaxAgeMs: number;
  /** A JWKS fetch taking longer fails (503 auth-unavailable). */
  jwksTimeoutMs: number;
}

type JwtSettings = NonNullable<CompiledProducer['jwt']>;
type JwtProducer = CompiledProducer & { jwt: JwtSettings };

export class JwtVerifier {
  /** Producers accepting JWTs, by issuer; rebuilt after a producer changes. */
  private byIssuer: Map<string, JwtProducer[]> | undefined;
  private readonly keySets = new Map<string, JWTVerifyGetKey>();

  constructor(private readonly options: JwtVerifierOptions) {
    options.cache.on('change', (change) => {
      if (change.prefix === ConfigKeyPrefix.Producer) this.byIssuer = undefined;
    });
  }

  /**
   * Picks the producer (throwing a 401 ProblemError at once for a token no producer accepts)
   * and starts verifying; the promise rejects with a 401 or, when the JWKS cannot be fetched,
   * a 503 ProblemError.
   */
  begin(token: string): Promise<CompiledProducer> {
    const producer = this.selectProducer(token);
    return this.verify(token, producer);
  }

  private selectProducer(token: string): JwtProducer {
    let alg: unknown;
    let claims: JWTPayload;
    try {
      alg = decodeProtectedHeader(token).alg;
      claims = decodeJwt(token);
    } catch {
      throw refuseToken(
        AuthFailure.Malformed,
        'The bearer token is not a well-formed JWT.',
        'malformed token',
      );
    }
    // Checked before any key is fetched: `none` and HS256 cost nothing.
    if (typeof alg !== 'string' || !ALLOWED.has(alg)) {
      throw refuseToken(
        AuthFailure.AlgorithmNotAllowed,
        `The token must be signed with one of ${JWT_ALGORITHMS.join(', ')}.`,
        `alg ${JSON.stringify(String(alg).slice(0, 16))} not allowed`,
      );
    }
    const { iss, sub } = claims;
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : (claims.aud ?? []);
    const candidates = (typeof iss === 'string' ? this.indexByIssuer().get(iss) : undefined) ?? [];
    const matching = candidates.filter(
      (p) =>
        audiences.includes(p.jwt.audience) &&
        (p.jwt.subject === undefined || p.jwt.subject === sub),
    );
    // A producer pinned to this `sub` wins over those taking any subject of the issuer.
    const pinned = matching.filter((p) => p.jwt.subject !== undefined);
    const chosen = matching.length === 1 ? matching : pinned;
    if (chosen.length === 1) return chosen[0] as JwtProducer;
    const issText = typeof iss === 'string' ? JSON.stringify(iss.slice(0, 200)) : 'none';
    if (matching.length === 0) {
      throw refuseToken(
        AuthFailure.NoMatchingProducer,
        'No producer accepts tokens with this issuer, audience and subject.',
        `no producer for iss ${issText}`,
      );
    }
    throw refuseToken(
      AuthFailure.AmbiguousProducer,
      'Several producers accept this token: its issuer must pin each to a subject (spec.auth.jwt.subject).',
      `${matching.length} producers for iss ${issText}`,
    );
  }

  private async verify(token: string, producer: JwtProducer): Promise<CompiledProducer> {
    const { jwt } = producer;
    const id = `${producer.namespace}/${producer.name}`;
    try {
      await jwtVerify(token, this.keySetFor(jwt.jwksUri), {
        issuer: jwt.issuer,
        audience: jwt.audience,
        ...(jwt.subject !== undefined && { subject: jwt.subject }),
        algorithms: [...JWT_ALGORITHMS],
        clockTolerance: this.options.clockToleranceSeconds,
        requiredClaims: ['exp'],
      });
    } catch (err) {
      throw mapVerifyError(err, id);
    }
    return producer;
  }

  private keySetFor(jwksUri: string): JWTVerifyGetKey {
    let keySet = this.keySets.get(jwksUri);
    if (keySet === undefined) {
      const { jwksCooldownMs, jwksCacheMaxAgeMs, jwksTimeoutMs } = this.options;
      keySet = createRemoteJWKSet(new URL(jwksUri), {
        cooldownDuration: jwksCooldownMs,
        cacheMaxAge: jwksCacheMaxAgeMs,
        timeoutDuration: jwksTimeoutMs,
      });
      this.keySets.set(jwksUri, keySet);
    }
    return keySet;
  }

  /** The issuer index; rebuilding it also drops key sets no producer uses any more. */
  private indexByIssuer(): Map<string, JwtProducer[]> {
    if (this.byIssuer !== undefined) return this.byIssuer;
    const index = new Map<string, JwtProducer[]>();
    const uris = new Set<string>();
    for (const p of this.options.cache.producers.values()) {
      if (p.jwt === undefined) continue;
      const list = index.get(p.jwt.issuer) ?? [];
      list.push(p as JwtProducer);
      index.set(p.jwt.issuer, list);
      uris.add(p.jwt.jwksUri);
    }
    for (const uri of this.keySets.keys()) if (!uris.has(uri)) this.keySets.delete(uri);
    this.byIssuer = index;
    return index;
  }
}

/** jose's error as a refusal: the client's fault is 401, a JWKS the broker cannot get is 503. */
function mapVerifyError(err: unknown, producerId: string): ProblemError {
  const at = `(producer ${producerId})`;
  if (!(err instanceof errors.JOSEError)) {
    // fetch() failing: connection refused, DNS, TLS.
    return jwksUnavailable(err, at);
  }
  const claim = (err as { claim?: unknown }).claim;
  switch (err.code) {
    case errors.JWTExpired.code:
      return refuseToken(
        AuthFailure.TokenExpired,
        'The token has expired.',
        `expired ${at}`,
        'exp',
      );
    case errors.JWTClaimValidationFailed.code: {
      const name = typeof claim === 'string' ? claim : 'unspecified';
      if (name === 'nbf' && (err as { reason?: unknown }).reason === 'check_failed') {
        return refuseToken(
          AuthFailure.TokenNotYetValid,
          'The token is not valid yet (nbf).',
          `not yet valid ${at}`,
          'nbf',
        );
      }
      return refuseToken(
        AuthFailure.ClaimInvalid,
        `The token's "${name}" claim is missing or not accepted.`,
        `claim ${name} invalid ${at}`,
        name,
      );
    }
    case errors.JOSEAlgNotAllowed.code:
      return refuseToken(
        AuthFailure.AlgorithmNotAllowed,
        `The token must be signed with one of ${JWT_ALGORITHMS.join(', ')}.`,
        `alg not allowed ${at}`,
      );
    case errors.JWKSNoMatchingKey.code:
    case errors.JWKSMultipleMatchingKeys.code:
      return refuseToken(
        AuthFailure.UnknownKey,
        'No single key of the issuer’s JWKS matches the token (kid, alg).',
        `no matching JWKS key ${at}`,
      );
    case errors.JWSSignatureVerificationFailed.code:
      return refuseToken(
        AuthFailure.SignatureInvalid,
        'The token signature is not valid.',
        `signature invalid ${at}`,
      );
    case errors.JWKSTimeout.code:
    case errors.JWKSInvalid.code:
    case errors.JOSEError.code:
      // A timeout, a non-200 answer, or a body that is not a JWK set.
      return jwksUnavailable(err, at);
    default:
      return refuseToken(
        AuthFailure.Malformed,
        'The bearer token is not a valid JWT.',
        `${err.code} ${at}`,
      );
  }
}

function jwksUnavailable(err: unknown, at: string): ProblemError {
  const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return refuseUnavailable(
    AuthFailure.JwksUnavailable,
    'The signing keys of the token issuer cannot be fetched.',
    `jwt: JWKS unavailable ${at}: ${what}`,
    err,
  );
}

/**
 * Producer authentication for every transport: credentials in (credentials.ts), the
 * CompiledProducer they belong to out, or a ProblemError (401; 503 when the broker cannot
 * check them now). API keys resolve synchronously, so the hot path stays free of promises;
 * HMAC needs the raw body; a JWT's verification starts before the body arrives.
 */
import type { JetStreamClient } from '@nats-io/jetstream';
import type { ConfigCache } from '../../core/config/kv.js';
import type { CompiledProducer } from '../../core/config/model.js';
import { hashApiKey } from '../../core/config/seal.js';
import type { Logger } from '../../core/logging.js';
import { DEFAULT_TOLERANCE_SECONDS } from '../../core/signing.js';
import { AuthFailure, refuseUnauthorized } from './auth-problems.js';
import { CredentialKind, MissingCredentials, type ProducerCredentials } from './credentials.js';
import { HmacVerifier } from './hmac-auth.js';
import { JwtVerifier } from './jwt-auth.js';
import {
  createKvReplayGuard,
  openReplayBucket,
  replayWindowMs,
  type ReplayGuard,
} from './replay-guard.js';

export interface AuthSettings {
  /** Standard Webhooks timestamp tolerance, either side of now; default 300 s. */
  signatureToleranceSeconds: number;
  /** Leeway for `exp` and `nbf`; default 30 s. */
  jwtClockToleranceSeconds: number;
  /** Least time between JWKS refetches caused by unknown `kid`s; default 30 s. */
  jwksCooldownMs: number;
  /** Age after which a JWKS is refetched before use; default 10 min. */
  jwksCacheMaxAgeMs: number;
  /** JWKS fetch timeout; default 5 s. */
  jwksTimeoutMs: number;
}

export const DEFAULT_AUTH_SETTINGS: AuthSettings = {
  signatureToleranceSeconds: DEFAULT_TOLERANCE_SECONDS,
  jwtClockToleranceSeconds: 30,
  jwksCooldownMs: 30_000,
  jwksCacheMaxAgeMs: 10 * 60_000,
  jwksTimeoutMs: 5_000,
};

export interface ProducerAuthenticatorOptions {
  cache: ConfigCache;
  /** Where signed requests' `webhook-id`s are claimed (shared by all replicas). */
  replayGuard: ReplayGuard;
  /** The installation's config key, to unseal HMAC secrets; without it HMAC answers 500. */
  configKey?: Buffer;
  logger: Logger;
  settings?: Partial<AuthSettings>;
}

/** An authentication under way: see ProducerAuthenticator.start. */
export interface AuthAttempt {
  readonly method: CredentialKind;
  /** The producer when already known without I/O (API keys); else undefined. */
  readonly producer: CompiledProducer | undefined;
  /**
   * The authenticated producer once the raw body is in (HMAC signs it; other methods ignore
   * it). Rejects with a ProblemError.
   */
  complete(body: Uint8Array): Promise<CompiledProducer>;
}

const EMPTY_BODY = new Uint8Array(0);

export class ProducerAuthenticator {
  readonly settings: AuthSettings;
  private readonly hmac: HmacVerifier;
  private readonly jwt: JwtVerifier;
  private readonly apiKeyAttempts = new WeakMap<CompiledProducer, AuthAttempt>();

  constructor(private readonly options: ProducerAuthenticatorOptions) {
    const settings = { ...DEFAULT_AUTH_SETTINGS, ...options.settings };
    this.settings = settings;
    this.hmac = new HmacVerifier({
      cache: options.cache,
      replayGuard: options.replayGuard,
      configKey: options.configKey,
      toleranceSeconds: settings.signatureToleranceSeconds,
      logger: options.logger,
    });
    this.jwt = new JwtVerifier({
      cache: options.cache,
      clockToleranceSeconds: settings.jwtClockToleranceSeconds,
      jwksCooldownMs: settings.jwksCooldownMs,
      jwksCacheMaxAgeMs: settings.jwksCacheMaxAgeMs,
      jwksTimeoutMs: settings.jwksTimeoutMs,
    });
  }

  /**
   * Starts authenticating from the credentials alone, before the body is read. Throws a
   * ProblemError at once for whatever needs no I/O (no credentials, unknown API key, a
   * malformed or unacceptable JWT, HMAC headers missing or stale, unknown producer), so
   * strangers cost no body buffering.
   */
  start(credentials: ProducerCredentials): AuthAttempt {
    switch (credentials.kind) {
      case CredentialKind.ApiKey:
        return this.apiKeyAttempt(this.findByApiKey(credentials.apiKey));
      case CredentialKind.Jwt: {
        const verified = this.jwt.begin(credentials.token);
        // The body may never come (the client leaves): no unhandled rejection then.
        verified.catch(() => {});
        return { method: credentials.kind, producer: undefined, complete: () => verified };
      }
      case CredentialKind.Hmac: {
        const verifyBody = this.hmac.begin(credentials);
        return { method: credentials.kind, producer: undefined, complete: verifyBody };
      }
      case CredentialKind.None:
        throw refuseMissing(credentials.missing);
    }
  }

  /**
   * Authenticates in one step, for transports that hold the whole message (gRPC): `body`
   * is what an HMAC signature covers (empty when omitted). Rejects with a ProblemError.
   */
  authenticate(credentials: ProducerCredentials, body?: Uint8Array): Promise<CompiledProducer> {
    try {
      const attempt = this.start(credentials);
      return attempt.producer !== undefined
        ? Promise.resolve(attempt.producer)
        : attempt.complete(body ?? EMPTY_BODY);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** The finished attempt of an API key, one per producer (they hold no request state). */
  private apiKeyAttempt(producer: CompiledProducer): AuthAttempt {
    let attempt = this.apiKeyAttempts.get(producer);
    if (attempt === undefined) {
      const authenticated = Promise.resolve(producer);
      attempt = { method: CredentialKind.ApiKey, producer, complete: () => authenticated };
      this.apiKeyAttempts.set(producer, attempt);
    }
    return attempt;
  }

  /**
   * A map lookup on the key's SHA-256 needs no constant-time comparison: the lookup's timing
   * can only depend on the hash of the guess, which the guesser computes anyway; it says
   * nothing about the bytes of any stored key (SHA-256 is preimage-resistant), so there is no
   * prefix to converge on. Several hashes per producer allow rotation.
   */
  private findByApiKey(apiKey: string): CompiledProducer {
    const producer = this.options.cache.findProducerByApiKeyHash(hashApiKey(apiKey));
    if (producer === undefined) {
      throw refuseUnauthorized(
        AuthFailure.UnknownApiKey,
        'The API key is not valid.',
        'unknown API key',
      );
    }
    return producer;
  }
}

function refuseMissing(missing: MissingCredentials) {
  switch (missing) {
    case MissingCredentials.Absent:
      return refuseUnauthorized(
        AuthFailure.Absent,
        'No credentials: send Authorization: Bearer <API key or JWT>, X-API-Key, or a Standard Webhooks signature with Herald-Producer.',
        'no credentials',
      );
    case MissingCredentials.UnsupportedScheme:
      return refuseUnauthorized(
        AuthFailure.UnsupportedScheme,
        'Authorization must use the Bearer scheme.',
        'unsupported Authorization scheme',
      );
    case MissingCredentials.Conflicting:
      return refuseUnauthorized(
        AuthFailure.ConflictingCredentials,
        'Send exactly one kind of credentials: a bearer token, an X-API-Key, or a signature.',
        'more than one kind of credentials',
      );
  }
}

/** A broker's authenticator, with the replay guard on the shared bucket (created when absent). */
export async function createProducerAuthenticator(
  options: Omit<ProducerAuthenticatorOptions, 'replayGuard'> & { js: JetStreamClient },
): Promise<ProducerAuthenticator> {
  const tolerance =
    options.settings?.signatureToleranceSeconds ?? DEFAULT_AUTH_SETTINGS.signatureToleranceSeconds;
  const kv = await openReplayBucket(options.js, replayWindowMs(tolerance));
  return new ProducerAuthenticator({ ...options, replayGuard: createKvReplayGuard(kv) });
}

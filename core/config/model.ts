/**
 * The compiled config: what the operator writes to KV `herald-config` and what brokers and
 * dispatchers read. Plain JSON, one entry per resource, durations already in milliseconds,
 * secrets sealed (see seal.ts) and API keys only as hashes.
 */
import type { Filter } from '../resources/types.js';

/** Bumped when the stored shape changes incompatibly; readers skip entries of other versions. */
export const CONFIG_FORMAT = 1;

/** A secret sealed with the installation's config key: `v1.<base64url iv|tag|ciphertext>`. */
export type SealedSecret = string;

export interface CompiledEventType {
  format: typeof CONFIG_FORMAT;
  namespace: string;
  name: string;
  generation: number;
  /** The CloudEvents `type`. */
  type: string;
  description?: string;
  /** JSON Schema (2020-12) for `data`; absent = any data. */
  schema?: Record<string, unknown>;
  /** sha256 of the canonical schema: brokers compile each digest once. */
  schemaDigest: string;
  dataContentType: string;
  deprecated: boolean;
  stream: string;
  subject: string;
  /** Stream limits (the operator's concern; absent in configs written before they existed). */
  retention?: EventTypeRetention;
  /** JetStream `duplicate_window`: how long a `Nats-Msg-Id` is remembered. */
  duplicateWindowMs?: number;
  /** What happens to the stream when the EventType is deleted. */
  deletionPolicy?: 'Retain' | 'Delete';
}

export interface EventTypeRetention {
  /** 0 = no age limit. */
  maxAgeMs: number;
  /** -1 = no size limit. */
  maxBytes: number;
  replicas: number;
  storage: 'file' | 'memory';
}

export interface CompiledProducer {
  format: typeof CONFIG_FORMAT;
  namespace: string;
  name: string;
  generation: number;
  displayName?: string;
  /** EventType names (not CloudEvents types) it may publish, in its namespace. */
  eventTypes: string[];
  /** Allowed `source` patterns; `*` matches any suffix; empty = any source. */
  sources: string[];
  /** sha256 (hex) of each API key; the keys themselves never leave the operator. */
  apiKeyHashes: string[];
  hmacSecret?: SealedSecret;
  /** Bearer JWTs; `subject`, when set, is the only `sub` accepted (docs/producer-auth.md). */
  jwt?: { issuer: string; audience: string; jwksUri: string; subject?: string };
  rateLimit?: { eventsPerSecond: number; burst: number };
}

export interface CompiledConsumer {
  eventType: string;
  stream: string;
  durable: string;
}

/** sink.auth.oauth2 as the dispatcher uses it (docs/delivery.md, Outbound authentication). */
export interface CompiledOAuth2 {
  tokenUrl: string;
  clientId: string;
  /** Absent (configs written before it existed) = basic. */
  clientAuthentication?: 'basic' | 'post' | 'privateKeyJwt';
  /** basic and post. */
  clientSecret?: SealedSecret;
  /** privateKeyJwt: the PEM key, sealed, and what goes into each assertion's header and `aud`. */
  privateKey?: {
    key: SealedSecret;
    algorithm: 'RS256' | 'ES256';
    keyId?: string;
    /** base64url SHA-1 and SHA-256 thumbprints of the key's certificate. */
    x5t?: string;
    x5tS256?: string;
    /** Default: tokenUrl. */
    audience?: string;
  };
  scopes: string[];
  /** Extra token-request form parameters; absent = none. */
  parameters?: Record<string, string>;
}

export interface CompiledSubscription {
  format: typeof CONFIG_FORMAT;
  namespace: string;
  name: string;
  generation: number;
  eventTypes: string[];
  filters: Filter[];
  sink: {
    uri: string;
    verification: 'none' | 'handshake';
    auth?: {
      apiKey?: { header: string; value: SealedSecret };
      bearer?: { token: SealedSecret };
      oauth2?: CompiledOAuth2;
    };
  };
  delivery: {
    mode: 'binary' | 'structured';
    /** Sealed `whsec_…` secrets; several during rotation, each signs. Empty = unsigned. */
    signingSecrets: SealedSecret[];
    timeoutMs: number;
    retry: {
      maxAttempts: number;
      backoff: 'exponential' | 'linear';
      initialDelayMs: number;
      maxDelayMs: number;
      retryAfterMaxMs: number;
    };
    deadLetterSinkUri?: string;
    maxInFlight: number;
    rateLimit?: { eventsPerSecond: number };
    ordering: 'none' | 'ordered';
    /** Pause after only failures for this long; 0 = never; absent (older configs) = the default. */
    autoPauseAfterMs?: number;
  };
  startFrom: string;
  paused: boolean;
  consumers: CompiledConsumer[];
}

export interface CompiledConfig {
  eventTypes: CompiledEventType[];
  producers: CompiledProducer[];
  subscriptions: CompiledSubscription[];
}

export type CompiledEntry = CompiledEventType | CompiledProducer | CompiledSubscription;

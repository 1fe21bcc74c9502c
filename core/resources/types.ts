/**
 * The custom resources of DESIGN.md §2 as TypeScript types. The JSON Schemas in `schemas.ts`
 * are the source of the CRDs; these types describe the same shapes for code.
 */
export const GROUP = 'herald.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

export const Kind = {
  EventType: 'EventType',
  Producer: 'Producer',
  Subscription: 'Subscription',
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface SecretKeyRef {
  name: string;
  key: string;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface EventTypeSpec {
  type: string;
  description?: string;
  schema?: Record<string, unknown>;
  dataContentType?: string;
  retention?: {
    maxAge?: string;
    maxBytes?: string | number;
    replicas?: number;
    storage?: 'file' | 'memory';
  };
  duplicateWindow?: string;
  deprecated?: boolean;
  deletionPolicy?: 'Retain' | 'Delete';
}

export interface ProducerSpec {
  displayName?: string;
  eventTypes: string[];
  sources?: string[];
  auth: {
    apiKeys?: { secretRef: SecretKeyRef }[];
    hmac?: { secretRef: SecretKeyRef };
    jwt?: { issuer: string; audience: string; jwksUri: string; subject?: string };
  };
  rateLimit?: { eventsPerSecond: number; burst?: number };
}

/** CloudEvents Subscriptions API filter dialects; exactly one key per filter object. */
export type Filter =
  | { exact: Record<string, string> }
  | { prefix: Record<string, string> }
  | { suffix: Record<string, string> }
  | { all: Filter[] }
  | { any: Filter[] }
  | { not: Filter }
  | { sql: string };

export interface SinkAuth {
  apiKey?: { header: string; secretRef: SecretKeyRef };
  bearer?: { secretRef: SecretKeyRef };
  oauth2?: OAuth2ClientCredentials;
}

/** `sink.auth.oauth2`: the client-credentials grant (docs/delivery.md, Outbound authentication). */
export interface OAuth2ClientCredentials {
  tokenUrl: string;
  clientId: string;
  /**
   * How the client authenticates to the token endpoint: `basic` (client_secret_basic, the
   * default), `post` (client_secret_post) or `privateKeyJwt` (RFC 7523 client assertion).
   */
  clientAuthentication?: 'basic' | 'post' | 'privateKeyJwt';
  /** basic and post only (and required there). */
  clientSecretRef?: SecretKeyRef;
  /** privateKeyJwt only (and required there). */
  privateKey?: {
    /** A PEM private key: RSA (2048 bits or more) or EC P-256. */
    secretRef: SecretKeyRef;
    /** Default: RS256 for an RSA key, ES256 for an EC key. */
    algorithm?: 'RS256' | 'ES256';
    /** Sent as the assertion's `kid` header. */
    keyId?: string;
    /** A PEM certificate of the key: its thumbprints are sent as `x5t` and `x5t#S256`. */
    certificateRef?: SecretKeyRef;
    /** The assertion's `aud`; default the tokenUrl (Auth0 wants its issuer instead). */
    assertionAudience?: string;
  };
  scopes?: string[];
  /** Extra form parameters of the token request, e.g. `audience`; not the ones Herald sets. */
  parameters?: Record<string, string>;
}

export interface SubscriptionSpec {
  eventTypes: string[];
  filters?: Filter[];
  sink: { uri: string; auth?: SinkAuth; verification?: 'none' | 'handshake' };
  delivery?: {
    mode?: 'binary' | 'structured';
    /**
     * Each secret named signs (secretRef first, then secretRefs in order): several during a
     * rotation. At least one, at most Limits.signingSecrets (5) in all.
     */
    signing?: { secretRef?: SecretKeyRef; secretRefs?: SecretKeyRef[] };
    timeout?: string;
    retry?: {
      maxAttempts?: number;
      backoff?: 'exponential' | 'linear';
      initialDelay?: string;
      maxDelay?: string;
      retryAfterMax?: string;
    };
    deadLetter?: { sink: { uri: string } };
    maxInFlight?: number;
    rateLimit?: { eventsPerSecond: number };
    ordering?: 'none' | 'ordered';
    /** Pause after only failures for this long (`0s` = never); docs/delivery.md. */
    autoPauseAfter?: string;
  };
  startFrom?: string;
  paused?: boolean;
}

export interface Resource<K extends string, S> {
  apiVersion: typeof API_VERSION;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  status?: Record<string, unknown>;
}

export type EventType = Resource<'EventType', EventTypeSpec>;
export type Producer = Resource<'Producer', ProducerSpec>;
export type Subscription = Resource<'Subscription', SubscriptionSpec>;
export type HeraldResource = EventType | Producer | Subscription;

/** A core/v1 Secret, as written by users (`data` base64, `stringData` plain). */
export interface Secret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

/** Defaults applied when a field is omitted, in one place so docs and compile agree. */
export const Defaults = {
  namespace: 'default',
  dataContentType: 'application/json',
  duplicateWindow: '2m',
  retentionMaxAge: '168h',
  replicas: 1,
  storage: 'file',
  deletionPolicy: 'Retain',
  deliveryMode: 'binary',
  timeout: '10s',
  maxAttempts: 8,
  backoff: 'exponential',
  initialDelay: '1s',
  maxDelay: '1h',
  retryAfterMax: '10m',
  maxInFlight: 16,
  ordering: 'none',
  autoPauseAfter: '24h',
  startFrom: 'new',
  verification: 'none',
  oauth2ClientAuthentication: 'basic',
} as const;

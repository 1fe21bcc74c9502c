/**
 * HMAC-signed requests in the Standard Webhooks scheme: `webhook-id`, `webhook-timestamp` and
 * `webhook-signature` over the exact raw body, keyed by the producer's `whsec_…` secret. The
 * producer names itself in `Herald-Producer: <namespace>/<name>`, since a signature can only
 * be checked once the secret is known. Checks that need no body run first (a stranger costs
 * no body buffering); the signature is then verified in constant time (core/signing.ts) and
 * the `webhook-id` claimed in the shared replay guard.
 */
import type { ConfigCache } from '../../core/config/kv.js';
import type { CompiledProducer } from '../../core/config/model.js';
import { unsealSecret } from '../../core/config/seal.js';
import type { Logger } from '../../core/logging.js';
import { VerifyFailure, verifyWebhook } from '../../core/signing.js';
import { replayKeyFor } from '../../core/topology.js';
import {
  AuthFailure,
  refuseMisconfigured,
  refuseReplay,
  refuseSignature,
  refuseUnavailable,
} from './auth-problems.js';
import { CredentialHeader, type CredentialKind, type ProducerCredentials } from './credentials.js';
import type { ReplayGuard } from './replay-guard.js';

type HmacCredentials = Extract<ProducerCredentials, { kind: typeof CredentialKind.Hmac }>;

/**
 * Visible ASCII without `.`: the signed text is `<id>.<timestamp>.<body>`, so an id holding a
 * dot could shift where the timestamp seems to start. 256 characters at most.
 */
const WEBHOOK_ID = /^[\x21-\x2d\x2f-\x7e]{1,256}$/;
const TIMESTAMP = /^\d{1,12}$/;
const PRODUCER_ID = /^([a-z0-9-]{1,63})\/([a-z0-9-]{1,63})$/;

export interface HmacVerifierOptions {
  cache: ConfigCache;
  replayGuard: ReplayGuard;
  /** Unseals `hmacSecret`; without it signed requests cannot be checked (500). */
  configKey: Buffer | undefined;
  toleranceSeconds: number;
  logger: Logger;
}

/** A secret unsealed once per config entry (a changed producer is a new object). */
type Unsealed = { secret: string } | { error: string };

export class HmacVerifier {
  private readonly unsealed = new WeakMap<CompiledProducer, Unsealed>();

  constructor(private readonly options: HmacVerifierOptions) {}

  /**
   * Everything checkable before the body: the headers, the timestamp's tolerance and the named
   * producer with its secret. Returns the check to run on the raw body; throws a ProblemError.
   */
  begin(credentials: HmacCredentials): (body: Uint8Array) => Promise<CompiledProducer> {
    const { producer: producerId, webhookId, timestamp, signature } = credentials;
    if (producerId === undefined) {
      throw refuseSignature(
        AuthFailure.MissingProducer,
        `A signed request names its producer in the ${CredentialHeader.Producer} header: <namespace>/<name>.`,
        'no Herald-Producer header',
      );
    }
    if (webhookId === undefined || timestamp === undefined) {
      throw refuseSignature(
        AuthFailure.MissingHeaders,
        'A signed request carries webhook-id, webhook-timestamp and webhook-signature.',
        'missing webhook-id or webhook-timestamp',
      );
    }
    if (!WEBHOOK_ID.test(webhookId)) {
      throw refuseSignature(
        AuthFailure.InvalidWebhookId,
        'webhook-id must be 1 to 256 visible ASCII characters without ".".',
        'invalid webhook-id',
      );
    }
    this.checkTimestamp(timestamp);
    const producer = this.findProducer(producerId);
    const secret = this.secretOf(producer);
    return async (body) => {
      const result = verifyWebhook([secret], { id: webhookId, timestamp, signature }, body, {
        toleranceSeconds: this.options.toleranceSeconds,
      });
      if (!result.ok) throw refuseVerifyFailure(result.reason, producerId);
      await this.claim(producer, webhookId, producerId);
      return producer;
    };
  }

  private checkTimestamp(timestamp: string): void {
    if (!TIMESTAMP.test(timestamp)) {
      throw refuseSignature(
        AuthFailure.InvalidTimestamp,
        'webhook-timestamp must be the signing time in whole seconds since the Unix epoch.',
        'invalid webhook-timestamp',
      );
    }
    const skew = Math.floor(Date.now() / 1000) - Number(timestamp);
    if (Math.abs(skew) > this.options.toleranceSeconds) {
      throw refuseVerifyFailure(VerifyFailure.TimestampOutOfTolerance, `skew ${skew} s`);
    }
  }

  /** Unknown producers and producers without HMAC get the same answer as a bad signature. */
  private findProducer(producerId: string): CompiledProducer {
    const match = PRODUCER_ID.exec(producerId);
    const producer = match && this.options.cache.producers.get(producerId);
    if (!producer || producer.hmacSecret === undefined) {
      throw refuseSignature(
        AuthFailure.NoMatchingSignature,
        'The request signature is not valid.',
        producer ? `producer ${producerId} has no HMAC secret` : 'unknown producer',
      );
    }
    return producer;
  }

  private secretOf(producer: CompiledProducer): string {
    let unsealed = this.unsealed.get(producer);
    if (unsealed === undefined) {
      unsealed = this.unseal(producer);
      this.unsealed.set(producer, unsealed);
    }
    if ('secret' in unsealed) return unsealed.secret;
    throw refuseMisconfigured(
      AuthFailure.SecretUnavailable,
      'The broker cannot check signatures for this producer.',
      unsealed.error,
    );
  }

  private unseal(producer: CompiledProducer): Unsealed {
    const id = `${producer.namespace}/${producer.name}`;
    const { configKey, logger } = this.options;
    // Logged once per config entry; seal.ts errors name no secret.
    if (configKey === undefined) {
      logger.error(
        { producer: id },
        'cannot check HMAC signatures: the broker has no config key (HERALD_CONFIG_KEY or --config-key-file)',
      );
      return { error: 'the broker has no config key' };
    }
    try {
      return { secret: unsealSecret(configKey, producer.hmacSecret as string) };
    } catch (err) {
      logger.error({ producer: id, err }, 'cannot unseal the HMAC secret of a producer');
      return { error: `cannot unseal the HMAC secret of ${id}` };
    }
  }

  private async claim(producer: CompiledProducer, webhookId: string, id: string): Promise<void> {
    let first: boolean;
    try {
      first = await this.options.replayGuard.claim(
        replayKeyFor(producer.namespace, producer.name, webhookId),
      );
    } catch (err) {
      // Failing closed: without the guard a captured request could be replayed.
      throw refuseUnavailable(
        AuthFailure.ReplayGuardUnavailable,
        'The broker cannot check signed requests for replays.',
        `hmac: replay guard: ${err instanceof Error ? err.name : 'error'}`,
        err,
      );
    }
    if (!first) throw refuseReplay(id);
  }
}

function refuseVerifyFailure(reason: VerifyFailure, context: string) {
  switch (reason) {
    case VerifyFailure.MissingHeaders:
      return refuseSignature(
        AuthFailure.MissingHeaders,
        'A signed request carries webhook-id, webhook-timestamp and webhook-signature.',
        'missing headers',
      );
    case VerifyFailure.InvalidTimestamp:
      return refuseSignature(
        AuthFailure.InvalidTimestamp,
        'webhook-timestamp must be whole seconds since the Unix epoch.',
        'invalid webhook-timestamp',
      );
    case VerifyFailure.TimestampOutOfTolerance:
      return refuseSignature(
        AuthFailure.TimestampOutOfTolerance,
        'webhook-timestamp is too far from the broker’s clock: sign each request when sending it, with a synchronised clock.',
        `timestamp out of tolerance (${context})`,
      );
    case VerifyFailure.NoMatchingSignature:
      return refuseSignature(
        AuthFailure.NoMatchingSignature,
        'The request signature is not valid.',
        `no matching signature (producer ${context})`,
      );
  }
}

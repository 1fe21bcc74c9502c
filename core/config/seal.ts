/**
 * Sealing of secret material in the config bucket: AES-256-GCM with the installation's
 * 32-byte config key. A reader without the key sees only ciphertext.
 */
import { createCipheriv, createDecipheriv, createHmac, hash, randomBytes } from 'node:crypto';
import { ErrorCode, HeraldError } from '../errors.js';
import type { SealedSecret } from './model.js';

const PREFIX = 'v1.';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A 32-byte key from its text form: 64 hex chars or base64 of 32 bytes. */
export function parseConfigKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) {
    throw new HeraldError(
      ErrorCode.SealFailed,
      'the config key must be 32 bytes, written as 64 hex characters or base64',
    );
  }
  return key;
}

export function generateConfigKey(): string {
  return randomBytes(32).toString('base64');
}

/**
 * Deterministic: the IV is an HMAC of the plaintext under the key, so sealing the same secret
 * twice gives the same text and recompiling unchanged resources writes nothing (drift checks
 * compare bytes). An IV repeats only for an identical plaintext, which GCM tolerates.
 */
export function sealSecret(key: Buffer, plaintext: string): SealedSecret {
  const iv = createHmac('sha256', key)
    .update('herald-seal-iv\0')
    .update(plaintext, 'utf8')
    .digest()
    .subarray(0, IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function unsealSecret(key: Buffer, sealed: SealedSecret): string {
  if (!sealed.startsWith(PREFIX)) {
    throw new HeraldError(ErrorCode.SealFailed, 'sealed secret has an unknown format');
  }
  const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64url');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([
      decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch (cause) {
    // Never include the ciphertext or key in the message.
    throw new HeraldError(
      ErrorCode.SealFailed,
      'cannot unseal a secret: the config key differs from the operator’s',
      { cause },
    );
  }
}

/** How API keys are stored and compared: sha256, hex. Keys are high-entropy, so a fast hash suffices. */
export function hashApiKey(apiKey: string): string {
  // One-shot: the broker hashes the key of every request.
  return hash('sha256', apiKey, 'hex');
}

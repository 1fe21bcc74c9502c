/**
 * Authentication and TLS for every NATS connection Herald makes: a credentials file (JWT +
 * nkey seed, as `nsc` writes it) and TLS files (CA, and a client certificate + key for mutual
 * TLS). The Helm chart mounts them and names them in NATS_CREDS_FILE and NATS_TLS_*; the CLI
 * turns those into a NatsAuth, and each deployable spreads buildNatsConnectOptions(auth) into
 * its connect() call.
 *
 * Errors name files, never their content: a creds file holds a private seed.
 */
import { readFileSync } from 'node:fs';
import { credsAuthenticator, type NodeConnectionOptions } from '@nats-io/transport-node';
import { ErrorCode, HeraldError } from './errors.js';

export interface NatsAuth {
  /** A NATS credentials file (`.creds`): a user JWT and its nkey seed. */
  credsFile?: string;
  tls?: {
    /** CA bundle that signed the server's certificate (default: the system's roots). */
    caFile?: string;
    /** Client certificate for mutual TLS; needs keyFile too. */
    certFile?: string;
    keyFile?: string;
  };
}

/** The part of nats.js's connect() options that NatsAuth decides. */
export type NatsConnectAuthOptions = Pick<NodeConnectionOptions, 'authenticator' | 'tls'>;

/** One dash-fenced block of a creds file: nats.js's own pattern (the JWT, then the seed). */
const CREDS_BLOCK = /\s*(?:(?:[-]{3,}[^\n]*[-]{3,}\n)(.+)(?:\n\s*[-]{3,}[^\n]*[-]{3,}\n))/gi;

/**
 * The connect() options for `auth`: none when it is undefined or empty. Checks the files now,
 * so a wrong path fails the start with the path named instead of every connect attempt.
 * Throws HeraldError ERR_INVALID_NATS_AUTH.
 */
export function buildNatsConnectOptions(auth: NatsAuth | undefined): NatsConnectAuthOptions {
  const options: NatsConnectAuthOptions = {};
  if (!auth) return options;
  const { credsFile, tls } = auth;
  if (credsFile) {
    checkCredsFile(credsFile);
    // A function, not the bytes: nats.js calls it on every (re)connect, so a rotated creds
    // file is picked up without a restart.
    options.authenticator = credsAuthenticator(() => readFileSync(credsFile));
  }
  if (tls && (tls.caFile || tls.certFile || tls.keyFile)) {
    if (Boolean(tls.certFile) !== Boolean(tls.keyFile)) {
      throw new HeraldError(
        ErrorCode.InvalidNatsAuth,
        tls.certFile
          ? `a NATS TLS client certificate (${tls.certFile}) needs its key file too (--nats-tls-key or NATS_TLS_KEY_FILE)`
          : `a NATS TLS key file (${tls.keyFile}) needs its client certificate too (--nats-tls-cert or NATS_TLS_CERT_FILE)`,
      );
    }
    // nats.js reads these files itself on every connect, so renewed certificates apply too.
    options.tls = {};
    if (tls.caFile) options.tls.caFile = checkReadable(tls.caFile, 'TLS CA file');
    if (tls.certFile) options.tls.certFile = checkReadable(tls.certFile, 'TLS certificate file');
    if (tls.keyFile) options.tls.keyFile = checkReadable(tls.keyFile, 'TLS key file');
  }
  return options;
}

function checkReadable(path: string, what: string): string {
  try {
    // Read, not just stat'ed: a directory (the mount instead of the file in it) fails here too.
    readFileSync(path);
  } catch (cause) {
    throw unreadable(path, what, cause);
  }
  return path;
}

function checkCredsFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw unreadable(path, 'credentials file', cause);
  }
  if ([...text.matchAll(CREDS_BLOCK)].length < 2) {
    throw new HeraldError(
      ErrorCode.InvalidNatsAuth,
      `the NATS credentials file ${path} is not a credentials file: expected a USER JWT block and a USER NKEY SEED block, as nsc writes them`,
    );
  }
}

function unreadable(path: string, what: string, cause: unknown): HeraldError {
  // The path and the errno code (ENOENT, EACCES) say what to fix; nothing of the content.
  const code = (cause as NodeJS.ErrnoException).code ?? 'unreadable';
  return new HeraldError(
    ErrorCode.InvalidNatsAuth,
    `cannot read the NATS ${what} ${path} (${code})`,
    { cause },
  );
}

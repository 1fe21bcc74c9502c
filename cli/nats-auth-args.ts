/**
 * `--nats-creds`, `--nats-tls-ca`, `--nats-tls-cert`, `--nats-tls-key` (env NATS_CREDS_FILE,
 * NATS_TLS_CA_FILE, NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE, as the Helm chart sets them) as the
 * NatsAuth every part connects with. The files are checked when a part connects
 * (buildNatsConnectOptions), so each command reports a bad one in its own words.
 */
import type { NatsAuth } from '../core/nats-connect-options.js';
import type { FlagValues } from './flags.js';

/** The NATS files given, or undefined when none is (connect with the URL alone). */
export function readNatsAuth(values: FlagValues): NatsAuth | undefined {
  const file = (value: string | boolean | undefined): string | undefined =>
    typeof value === 'string' && value !== '' ? value : undefined;
  const credsFile = file(values['nats-creds']);
  const caFile = file(values['nats-tls-ca']);
  const certFile = file(values['nats-tls-cert']);
  const keyFile = file(values['nats-tls-key']);
  const tls = {
    ...(caFile && { caFile }),
    ...(certFile && { certFile }),
    ...(keyFile && { keyFile }),
  };
  if (!credsFile && Object.keys(tls).length === 0) return undefined;
  return { ...(credsFile && { credsFile }), ...(Object.keys(tls).length > 0 && { tls }) };
}

/** The spread for a command's options: `natsAuth` only when some file was given. */
export function natsAuthOption(values: FlagValues): { natsAuth?: NatsAuth } {
  const natsAuth = readNatsAuth(values);
  return natsAuth ? { natsAuth } : {};
}

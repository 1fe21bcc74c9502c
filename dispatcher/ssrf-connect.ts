/**
 * SSRF guard, part 3: the connection path. undici's pools get a connector that resolves the
 * sink's host once, checks every address it resolves to against the policy, and then connects
 * to the checked address itself — an IP, so nothing looks the name up a second time and a DNS
 * answer that changes in between (rebinding) cannot slip another address past the check. TLS
 * keeps the host name for SNI and certificate checks, and the Host header is undici's, built
 * from the origin, so both still name the host and not the address.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { buildConnector } from 'undici';
import { checkSinkAddress, ForbiddenAddressError, type SinkAddressPolicy } from './ssrf-policy.js';

export interface ResolvedAddress {
  address: string;
  family: number;
}

/** Resolves a host name to every address it has; the system resolver unless tests inject one. */
export type SinkLookup = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export const lookUpAllAddresses: SinkLookup = (hostname) =>
  dnsLookup(hostname, { all: true, verbatim: true });

/**
 * The address to connect to for `hostname` (a name, an IPv4 literal, or an IPv6 literal with
 * or without brackets). An IP literal is checked as it is, with no lookup. A name is looked up
 * exactly once; if ANY address it resolves to is refused, the sink is refused: a name that
 * mixes public and internal answers is either misconfigured or an attack, and picking the
 * public one would make the verdict depend on resolver order. Otherwise the first address, in
 * the resolver's order, is the one used. Throws ForbiddenAddressError, or the lookup's own
 * error (ENOTFOUND…, a retryable network failure).
 */
export async function resolveSinkAddress(
  hostname: string,
  policy: SinkAddressPolicy,
  lookup: SinkLookup = lookUpAllAddresses,
): Promise<ResolvedAddress> {
  const host =
    hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const literal = isIP(host);
  const addresses = literal ? [{ address: host, family: literal }] : await lookup(host);
  if (addresses.length === 0) {
    throw Object.assign(new Error(`no address found for ${host}`), { code: 'ENOTFOUND' });
  }
  for (const resolved of addresses) {
    const verdict = checkSinkAddress(policy, resolved.address, host);
    if (!verdict.allowed) throw new ForbiddenAddressError(host, resolved.address, verdict.category);
  }
  return addresses[0] as ResolvedAddress;
}

export interface GuardedConnectorOptions {
  policy: SinkAddressPolicy;
  lookup?: SinkLookup;
  /** What opens the socket once the address is chosen: undici's own, unless tests inject one. */
  connect?: buildConnector.connector;
  /** undici's connect timeout, for the socket (the lookup is bounded by the request's timeout). */
  connectTimeoutMs?: number;
}

/**
 * An undici `connect` function that goes through resolveSinkAddress. The socket is opened to
 * the resolved IP; `host` (the origin's host:port) is passed on untouched so undici's TLS
 * connector still derives the SNI server name and the certificate check from the name.
 */
export function createGuardedConnector(options: GuardedConnectorOptions): buildConnector.connector {
  const connect =
    options.connect ?? buildConnector({ timeout: options.connectTimeoutMs ?? 10_000 });
  return (connectOptions, callback) => {
    resolveSinkAddress(connectOptions.hostname, options.policy, options.lookup).then(
      ({ address }) => {
        const servername =
          connectOptions.servername ??
          (isIP(stripBrackets(connectOptions.hostname)) ? undefined : connectOptions.hostname);
        connect(
          { ...connectOptions, hostname: address, ...(servername ? { servername } : {}) },
          callback,
        );
      },
      (err: Error) => callback(err, null),
    );
  };
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

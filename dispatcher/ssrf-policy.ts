/**
 * SSRF guard, part 2: the installation's policy — which addresses a sink may be connected to —
 * and the typed errors it refuses with. The rules, in order (docs/security.md explains them):
 *
 * 1. allowedCidrs / blockedCidrs: the longest matching prefix decides; a tie blocks. An IPv6
 *    address that embeds an IPv4 one (::ffff:a.b.c.d, NAT64, 6to4…) is matched as both.
 * 2. A public address is allowed.
 * 3. A host named in allowedCidrs (an exact DNS name) is allowed whatever it resolves to,
 *    except a metadata address: a name pointing there is the attack this guard exists for.
 * 4. allowPrivateSinks allows the private-network categories (loopback, unspecified, private,
 *    link-local, CGNAT, benchmarking). Metadata, multicast, broadcast, reserved and
 *    documentation addresses stay refused unless an allowedCidrs entry lists them.
 */
import { domainToASCII } from 'node:url';
import {
  AddressCategory,
  classifyIpAddress,
  containsAddress,
  extractEmbeddedIpv4,
  parseCidr,
  parseIpAddress,
  type AddressClassification,
  type IpAddress,
  type IpNetwork,
} from './ssrf.js';

/** A category of the policy's own: the address is in one of the installation's blockedCidrs. */
export const CONFIGURED_CATEGORY = 'configured';
export type RefusalCategory = Exclude<AddressCategory, 'public'> | typeof CONFIGURED_CATEGORY;

export const SsrfErrorCode = {
  /** A sink resolved to an address the policy refuses: a dead letter, never retried. */
  ForbiddenAddress: 'ERR_SINK_FORBIDDEN_ADDRESS',
  /** A blockedCidrs / allowedCidrs entry that is neither a CIDR, an IP nor a host name. */
  InvalidCidr: 'ERR_INVALID_CIDR',
} as const;
export type SsrfErrorCode = (typeof SsrfErrorCode)[keyof typeof SsrfErrorCode];

/**
 * Thrown (to undici, which hands it to the request) instead of connecting. The message names
 * the host and the category but not the address, because it becomes the dead letter's reason
 * and subscription owners should not learn what internal names resolve to; the address is on
 * the error for the dispatcher's own log.
 */
export class ForbiddenAddressError extends Error {
  readonly code = SsrfErrorCode.ForbiddenAddress;
  readonly host: string;
  readonly address: string;
  readonly category: RefusalCategory;
  constructor(host: string, address: string, category: RefusalCategory) {
    const what = host === address ? `sink address ${host} is` : `sink host ${host} resolves to`;
    super(`${what} a forbidden address (${category}); refused by the SSRF policy`);
    this.name = 'ForbiddenAddressError';
    this.host = host;
    this.address = address;
    this.category = category;
  }
}

export function isForbiddenAddressError(err: unknown): err is ForbiddenAddressError {
  return err instanceof ForbiddenAddressError;
}

export class InvalidCidrError extends Error {
  readonly code = SsrfErrorCode.InvalidCidr;
  constructor(option: string, entry: string) {
    const expected =
      option === 'allowedCidrs'
        ? 'a CIDR, an IP address or a host name'
        : 'a CIDR or an IP address';
    super(`${option}: "${entry}" is not ${expected} (e.g. 10.96.0.0/12, fd00::/8)`);
    this.name = 'InvalidCidrError';
  }
}

export interface SinkAddressPolicyOptions {
  /** Allow the private-network categories (see rule 4). Off in a cluster, on for `herald run`. */
  allowPrivateSinks?: boolean;
  /** Always refused unless a longer allowedCidrs prefix covers the address: pod/service ranges. */
  blockedCidrs?: readonly string[];
  /** CIDRs, IPs or exact host names allowed even when private (see rules 1 and 3). */
  allowedCidrs?: readonly string[];
}

export interface SinkAddressPolicy {
  readonly allowPrivateSinks: boolean;
  readonly blocked: readonly IpNetwork[];
  readonly allowed: readonly IpNetwork[];
  /** Lower-case, IDNA-normalised, without a trailing dot. */
  readonly allowedHosts: ReadonlySet<string>;
}

export type AddressVerdict =
  | { allowed: true; rule: 'public' | 'allowed_cidr' | 'allowed_host' | 'private_sinks_allowed' }
  | { allowed: false; category: RefusalCategory };

const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** Categories allowPrivateSinks permits: networks a laptop or a trusted LAN legitimately uses. */
const PRIVATE_NETWORK: ReadonlySet<AddressCategory> = new Set([
  AddressCategory.Loopback,
  AddressCategory.Unspecified,
  AddressCategory.Private,
  AddressCategory.LinkLocal,
  AddressCategory.Cgnat,
  AddressCategory.Benchmarking,
]);

/** Validates and compiles the options; throws InvalidCidrError naming the bad entry. */
export function createSinkAddressPolicy(options: SinkAddressPolicyOptions = {}): SinkAddressPolicy {
  const blocked = (options.blockedCidrs ?? []).map((entry) => {
    const net = parseCidr(entry.trim());
    if (!net) throw new InvalidCidrError('blockedCidrs', entry);
    return net;
  });
  const allowed: IpNetwork[] = [];
  const allowedHosts = new Set<string>();
  for (const entry of options.allowedCidrs ?? []) {
    // Host parsing turns legacy IPv4 forms (0x7f.1) into dotted-decimal: those are CIDRs too.
    const host = parseCidr(entry.trim()) ? undefined : normalizeHostName(entry);
    const net = parseCidr(host ?? entry.trim());
    if (net) allowed.push(net);
    else if (host) allowedHosts.add(host);
    else throw new InvalidCidrError('allowedCidrs', entry);
  }
  return { allowPrivateSinks: options.allowPrivateSinks ?? false, blocked, allowed, allowedHosts };
}

/** A DNS name as WHATWG URL parsing leaves it (lower-case, punycode), minus a trailing dot. */
export function normalizeHostName(text: string): string | undefined {
  const ascii = domainToASCII(text.trim().replace(/\.$/, ''));
  return ascii && HOST_NAME.test(ascii) ? ascii : undefined;
}

/** Length of the longest prefix in `networks` holding any of `ips`, or -1. IPv4 counts +96. */
function longestMatch(networks: readonly IpNetwork[], ips: readonly IpAddress[]): number {
  let best = -1;
  for (const net of networks) {
    if (!ips.some((ip) => containsAddress(net, ip))) continue;
    best = Math.max(best, net.prefix + (net.family === 4 ? 96 : 0));
  }
  return best;
}

/**
 * Whether a sink may be connected to `address` (an IP literal), reached through `host` (the
 * sink URI's host name, or the address itself). A text that is not an IP is refused as
 * reserved: the caller only ever passes resolved addresses.
 */
export function checkSinkAddress(
  policy: SinkAddressPolicy,
  address: string,
  host: string = address,
): AddressVerdict & { classification?: AddressClassification } {
  const ip = parseIpAddress(address);
  if (!ip) return { allowed: false, category: AddressCategory.Reserved };
  const classification = classifyIpAddress(ip);
  const embedded = extractEmbeddedIpv4(ip)?.ipv4;
  const candidates = embedded ? [ip, embedded] : [ip];
  const allowLength = longestMatch(policy.allowed, candidates);
  const blockLength = longestMatch(policy.blocked, candidates);
  if (allowLength > blockLength) return { allowed: true, rule: 'allowed_cidr', classification };
  if (blockLength >= 0) return { allowed: false, category: CONFIGURED_CATEGORY, classification };

  const { category } = classification;
  if (category === AddressCategory.Public) return { allowed: true, rule: 'public', classification };
  const name = parseIpAddress(host) ? undefined : normalizeHostName(host);
  if (name && policy.allowedHosts.has(name) && category !== AddressCategory.Metadata) {
    return { allowed: true, rule: 'allowed_host', classification };
  }
  if (policy.allowPrivateSinks && PRIVATE_NETWORK.has(category)) {
    return { allowed: true, rule: 'private_sinks_allowed', classification };
  }
  return { allowed: false, category, classification };
}

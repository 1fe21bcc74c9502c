/**
 * SSRF guard, part 1: what an IP address is. Parses IPv4 and IPv6 text into numbers and names
 * the special-purpose range an address falls in (loopback, private, metadata, …) or `public`.
 * Pure and table-tested; the policy (what is allowed) is in ssrf-policy.ts, the connection
 * path in ssrf-connect.ts, and the reasoning behind each range in docs/security.md.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const AddressCategory = {
  Public: 'public',
  Loopback: 'loopback',
  /** 0.0.0.0/8 and `::`: Linux connects a socket aimed at them to the local host. */
  Unspecified: 'unspecified',
  /** RFC 1918, IPv6 unique-local (fc00::/7) and the deprecated site-local fec0::/10. */
  Private: 'private',
  LinkLocal: 'link_local',
  /** 100.64.0.0/10, shared address space: carrier NAT, Tailscale, some cluster networks. */
  Cgnat: 'cgnat',
  /** Cloud instance metadata and host-agent endpoints: credentials live behind them. */
  Metadata: 'metadata',
  Multicast: 'multicast',
  Broadcast: 'broadcast',
  /** Special-purpose or unallocated space no webhook lives in (240/4, IETF blocks, Teredo…). */
  Reserved: 'reserved',
  /** 198.18.0.0/15 and 2001:2::/48 (RFC 2544 / 5180 test networks). */
  Benchmarking: 'benchmarking',
  /** RFC 5737 / 3849 / 9637 example ranges. */
  Documentation: 'documentation',
} as const;
export type AddressCategory = (typeof AddressCategory)[keyof typeof AddressCategory];

/** How an IPv6 address carries an IPv4 one; the embedded IPv4 decides its category. */
export const EmbeddedForm = {
  /** ::ffff:a.b.c.d — a dual-stack socket connects to a.b.c.d over IPv4. */
  Ipv4Mapped: 'ipv4_mapped',
  /** ::a.b.c.d — deprecated (RFC 4291); never public, whatever it embeds. */
  Ipv4Compatible: 'ipv4_compatible',
  /** ::ffff:0:a.b.c.d — SIIT (RFC 2765); never public, whatever it embeds. */
  Ipv4Translated: 'ipv4_translated',
  /** 64:ff9b::a.b.c.d — the well-known NAT64 prefix (RFC 6052); IPv6-only clusters use it. */
  Nat64: 'nat64',
  /** 2002:aabb:ccdd::/48 — 6to4 (RFC 3056, deprecated by RFC 7526). */
  SixToFour: '6to4',
} as const;
export type EmbeddedForm = (typeof EmbeddedForm)[keyof typeof EmbeddedForm];

/** An IP address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

export interface AddressClassification {
  category: AddressCategory;
  /** The IPv4 address an IPv6 one carries, and how, when that is what decided the category. */
  embedded?: { form: EmbeddedForm; ipv4: string };
}

/**
 * Parses an IP literal: dotted-decimal IPv4, or IPv6 (with or without brackets, an embedded
 * dotted quad, or a `%zone`, which is dropped). Undefined for anything else — in particular
 * for the legacy IPv4 forms (0x7f.1, 0177.0.0.1, 2130706433): WHATWG URL parsing turns those
 * into dotted-decimal before they get here, and DNS answers are always dotted-decimal.
 */
export function parseIpAddress(text: string): IpAddress | undefined {
  let s = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (isIPv4(s)) return { family: 4, value: parseIpv4Octets(s) };
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (!isIPv6(s)) return undefined;
  return { family: 6, value: parseIpv6Groups(s) };
}

function parseIpv4Octets(s: string): bigint {
  return s.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

/** Expects text node:net already accepted as IPv6 (zone removed). */
function parseIpv6Groups(s: string): bigint {
  let text = s;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = parseIpv4Octets(text.slice(lastColon + 1));
    tail.push(Number(v4 >> 16n), Number(v4 & 0xffffn));
    text = `${text.slice(0, lastColon + 1)}0`; // placeholder group, dropped below
  }
  const [head = '', rest] = text.split('::') as [string, string | undefined];
  const toGroups = (part: string): number[] =>
    part === '' ? [] : part.split(':').map((g) => parseInt(g, 16));
  let groups = toGroups(head);
  let after = rest === undefined ? [] : toGroups(rest);
  if (tail.length > 0) {
    if (rest === undefined) groups = groups.slice(0, -1);
    else after = after.slice(0, -1);
  }
  const fill = rest === undefined ? 0 : 8 - groups.length - after.length - tail.length;
  const all = [...groups, ...new Array<number>(fill).fill(0), ...after, ...tail];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Text form of a parsed address (IPv4 dotted-decimal; IPv6 uncompressed, lower-case). */
export function formatIpAddress(ip: IpAddress): string {
  if (ip.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => String((ip.value >> shift) & 0xffn)).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) {
    groups.push(((ip.value >> shift) & 0xffffn).toString(16));
  }
  return groups.join(':');
}

/** A network: the first `prefix` bits of `value`. */
export interface IpNetwork {
  family: 4 | 6;
  value: bigint;
  prefix: number;
}

export function containsAddress(network: IpNetwork, ip: IpAddress): boolean {
  if (network.family !== ip.family) return false;
  const shift = BigInt((network.family === 4 ? 32 : 128) - network.prefix);
  return ip.value >> shift === network.value >> shift;
}

/** `a.b.c.d/n` or `x::/n` (a bare address is a /32 or /128); undefined when not a CIDR. */
export function parseCidr(text: string): IpNetwork | undefined {
  const slash = text.indexOf('/');
  const ip = parseIpAddress(slash < 0 ? text : text.slice(0, slash));
  if (!ip || (slash >= 0 && text.includes('%'))) return undefined;
  const bits = ip.family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(bits) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > bits) return undefined;
  return { family: ip.family, value: ip.value, prefix };
}

function network(cidr: string): IpNetwork {
  const parsed = parseCidr(cidr);
  if (!parsed) throw new Error(`bad built-in CIDR ${cidr}`);
  return parsed;
}

type RangeTable = readonly (readonly [IpNetwork, AddressCategory])[];
const table = (rows: [string, AddressCategory][]): RangeTable =>
  rows.map(([cidr, category]) => [network(cidr), category] as const);

/**
 * Metadata endpoints, checked before the ranges holding them so they get their own name. Some
 * are link-local or CGNAT anyway; 168.63.129.16 is a public address that only means something
 * from inside Azure, which is exactly where it must not be reachable.
 */
const METADATA: RangeTable = table([
  ['169.254.169.254/32', AddressCategory.Metadata], // AWS, GCP, Azure, OCI, DigitalOcean… IMDS
  ['169.254.170.2/32', AddressCategory.Metadata], // AWS ECS task metadata and credentials
  ['169.254.170.23/32', AddressCategory.Metadata], // AWS EKS Pod Identity agent
  ['100.100.100.200/32', AddressCategory.Metadata], // Alibaba Cloud ECS metadata
  ['168.63.129.16/32', AddressCategory.Metadata], // Azure WireServer / host agent
  ['192.0.0.192/32', AddressCategory.Metadata], // Oracle Cloud (legacy metadata address)
  ['fd00:ec2::254/128', AddressCategory.Metadata], // AWS IMDS over IPv6
  ['fd00:ec2::23/128', AddressCategory.Metadata], // AWS EKS Pod Identity agent over IPv6
  ['fd20:ce::254/128', AddressCategory.Metadata], // GCP metadata over IPv6
]);

/** IANA IPv4 special-purpose registry, most specific first. */
const IPV4_RANGES: RangeTable = table([
  ['0.0.0.0/8', AddressCategory.Unspecified],
  ['10.0.0.0/8', AddressCategory.Private],
  ['100.64.0.0/10', AddressCategory.Cgnat],
  ['127.0.0.0/8', AddressCategory.Loopback],
  ['169.254.0.0/16', AddressCategory.LinkLocal],
  ['172.16.0.0/12', AddressCategory.Private],
  ['192.0.0.0/24', AddressCategory.Reserved], // IETF protocol assignments (DS-Lite, PCP…)
  ['192.0.2.0/24', AddressCategory.Documentation],
  ['192.88.99.0/24', AddressCategory.Reserved], // former 6to4 relay anycast
  ['192.168.0.0/16', AddressCategory.Private],
  ['198.18.0.0/15', AddressCategory.Benchmarking],
  ['198.51.100.0/24', AddressCategory.Documentation],
  ['203.0.113.0/24', AddressCategory.Documentation],
  ['224.0.0.0/4', AddressCategory.Multicast],
  ['255.255.255.255/32', AddressCategory.Broadcast],
  ['240.0.0.0/4', AddressCategory.Reserved],
]);

/** IPv6 special-purpose ranges other than the IPv4-embedding ones (handled first). */
const IPV6_RANGES: RangeTable = table([
  ['::/128', AddressCategory.Unspecified],
  ['::1/128', AddressCategory.Loopback],
  // Local-use NAT64 (RFC 8215): where the IPv4 sits depends on the site's prefix length, so
  // it cannot be read reliably; allow it with allowedCidrs where it is really used.
  ['64:ff9b:1::/48', AddressCategory.Reserved],
  ['100::/64', AddressCategory.Reserved], // discard-only
  ['2001:2::/48', AddressCategory.Benchmarking],
  ['2001::/23', AddressCategory.Reserved], // IETF protocol assignments, incl. Teredo 2001::/32
  ['2001:db8::/32', AddressCategory.Documentation],
  ['3fff::/20', AddressCategory.Documentation],
  ['fc00::/7', AddressCategory.Private],
  ['fe80::/10', AddressCategory.LinkLocal],
  ['fec0::/10', AddressCategory.Private],
  ['ff00::/8', AddressCategory.Multicast],
]);

/** Only 2000::/3 is allocated as global unicast; anything outside it is not a webhook. */
const IPV6_GLOBAL_UNICAST = network('2000::/3');

function lookUpRange(ranges: RangeTable, ip: IpAddress): AddressCategory | undefined {
  return ranges.find(([net]) => containsAddress(net, ip))?.[1];
}

function classifyIpv4(ip: IpAddress): AddressCategory {
  return lookUpRange(METADATA, ip) ?? lookUpRange(IPV4_RANGES, ip) ?? AddressCategory.Public;
}

const EMBEDDINGS: readonly {
  net: IpNetwork;
  form: EmbeddedForm;
  /** Bits to shift right to bring the IPv4 address to the bottom. */
  shift: bigint;
  /** Whether a public embedded address makes the IPv6 one public too. */
  publicIfEmbeddedIs: boolean;
}[] = [
  {
    net: network('::ffff:0:0/96'),
    form: EmbeddedForm.Ipv4Mapped,
    shift: 0n,
    publicIfEmbeddedIs: true,
  },
  { net: network('64:ff9b::/96'), form: EmbeddedForm.Nat64, shift: 0n, publicIfEmbeddedIs: true },
  { net: network('2002::/16'), form: EmbeddedForm.SixToFour, shift: 80n, publicIfEmbeddedIs: true },
  {
    net: network('::ffff:0:0:0/96'),
    form: EmbeddedForm.Ipv4Translated,
    shift: 0n,
    publicIfEmbeddedIs: false,
  },
  // Also holds :: and ::1, which the IPv6 table names before this embedding is tried.
  {
    net: network('::/96'),
    form: EmbeddedForm.Ipv4Compatible,
    shift: 0n,
    publicIfEmbeddedIs: false,
  },
];

/** The IPv4 address an IPv6 address carries, if it is one of the embedding forms. */
export function extractEmbeddedIpv4(
  ip: IpAddress,
): { form: EmbeddedForm; ipv4: IpAddress; publicIfEmbeddedIs: boolean } | undefined {
  if (ip.family !== 6) return undefined;
  if (ip.value <= 1n) return undefined; // :: and ::1 are themselves, not IPv4-compatible
  const match = EMBEDDINGS.find((e) => containsAddress(e.net, ip));
  if (!match) return undefined;
  const ipv4 = { family: 4 as const, value: (ip.value >> match.shift) & 0xffffffffn };
  return { form: match.form, ipv4, publicIfEmbeddedIs: match.publicIfEmbeddedIs };
}

/** Names the special-purpose range `ip` falls in, or `public`. */
export function classifyIpAddress(ip: IpAddress): AddressClassification {
  if (ip.family === 4) return { category: classifyIpv4(ip) };
  const metadata = lookUpRange(METADATA, ip);
  if (metadata) return { category: metadata };
  const embedded = extractEmbeddedIpv4(ip);
  if (embedded) {
    const inner = classifyIpv4(embedded.ipv4);
    const category =
      inner === AddressCategory.Public && !embedded.publicIfEmbeddedIs
        ? AddressCategory.Reserved
        : inner;
    return { category, embedded: { form: embedded.form, ipv4: formatIpAddress(embedded.ipv4) } };
  }
  const special = lookUpRange(IPV6_RANGES, ip);
  if (special) return { category: special };
  if (!containsAddress(IPV6_GLOBAL_UNICAST, ip)) return { category: AddressCategory.Reserved };
  return { category: AddressCategory.Public };
}

/** classifyIpAddress for text; undefined when `text` is not an IP literal. */
export function classifyAddress(text: string): AddressClassification | undefined {
  const ip = parseIpAddress(text);
  return ip && classifyIpAddress(ip);
}

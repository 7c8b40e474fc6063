import { inNetwork, parseNetwork, type IpAddress, type IpNetwork } from './ip-address.js';

/**
 * Ranges that are not the public internet (IANA's special-purpose registries, RFC 6890 and later).
 * A request that an outsider can aim (a client's jwks_uri, an upstream's issuer) must not reach
 * them: they hold the metadata service, the database, the admin ports of the data centre.
 */
const SPECIAL_USE: readonly (readonly [string, string])[] = [
  ['0.0.0.0/8', 'this network'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'shared address space (CGNAT)'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'IETF protocol assignments'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4 relay anycast'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::/96', 'IPv4-compatible (deprecated)'],
  ['64:ff9b:1::/48', 'local-use IPv4/IPv6 translation'],
  ['100::/64', 'discard-only'],
  ['2001::/23', 'IETF protocol assignments (Teredo, ORCHID, ...)'],
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', '6to4'],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'segment routing (SRv6)'],
  ['fc00::/7', 'unique local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local (deprecated)'],
  ['ff00::/8', 'multicast'],
];

const RANGES: readonly { network: IpNetwork; name: string }[] = SPECIAL_USE.map(([cidr, name]) => ({ network: parseNetwork(cidr)!, name }));

/** IPv6 prefixes whose last 32 bits are an IPv4 address that the packet really goes to. */
const EMBEDDING_V4 = [parseNetwork('::ffff:0:0/96')!, parseNetwork('64:ff9b::/96')!];

/** The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d) address. */
export function embeddedIpv4(ip: IpAddress): IpAddress | undefined {
  if (ip.family !== 6 || !EMBEDDING_V4.some((n) => inNetwork(ip, n))) return undefined;
  return { family: 4, value: ip.value & 0xffffffffn };
}

/** The special-use range an address falls in, or undefined for a public address. */
export function specialUseRange(ip: IpAddress): string | undefined {
  const v4 = embeddedIpv4(ip);
  if (v4) {
    const inner = specialUseRange(v4);
    return inner && `${inner} (IPv4 inside IPv6)`;
  }
  return RANGES.find((r) => inNetwork(ip, r.network))?.name;
}

import { isIP } from 'node:net';

/** The eight 16-bit groups of a valid IPv6 address (an embedded IPv4 tail included). */
function ipv6Groups(address: string): number[] {
  let text = address;
  const lastColon = text.lastIndexOf(':');
  const tail = text.slice(lastColon + 1);
  if (tail.includes('.')) {
    const [a = 0, b = 0, c = 0, d = 0] = tail.split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16));
}

const dotted = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;

/** `1.2.3.4:5678` and `[2001:db8::1]:443` (a proxy that writes the client's port) without the port. */
function withoutPort(ip: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(ip);
  if (bracketed) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(ip);
  return v4 ? v4[1]! : ip;
}

/**
 * The client a per-address rule counts against (rate limits, SMS sends, the sign-in lockout and its
 * familiar addresses). IPv4 counts per address, also when IPv4-mapped (`::ffff:`); a 6to4 site per
 * /48. Other IPv6 counts per /64, because one household or phone is routinely handed a whole /64: a
 * guesser could otherwise rotate through theirs, and a citizen's own address changes within theirs
 * daily. A port a proxy wrote after the address is dropped. Anything unparseable counts as itself.
 */
export function ipBucket(clientIp: string): string {
  return bucketOf(clientIp).bucket;
}

/**
 * The site an address belongs to, for the lockout's site rule (accounts/lockout.ts): an IPv6 /48,
 * the block one machine can hold (a tunnel broker hands out /48s; an ISP a household's /56 within
 * one). Elsewhere the address's own bucket (an IPv4 address, a 6to4 site, an unparsed value).
 */
export function ipSite(clientIp: string): string {
  return bucketOf(clientIp).site;
}

function bucketOf(clientIp: string): { bucket: string; site: string } {
  let ip = withoutPort(clientIp.trim().toLowerCase());
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const version = isIP(ip);
  const alone = (bucket: string) => ({ bucket, site: bucket });
  if (version === 4) return alone(ip);
  if (version !== 6) return alone(`unparsed:${clientIp}`);
  const g = ipv6Groups(ip);
  const [hi = 0, lo = 0] = g.slice(6);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) return alone(dotted(hi, lo));
  // A 6to4 site (2002:V::/48) is one user of IPv4 address V: one bucket, not 65,536 /64s. Labelled
  // apart from V itself: the address inside proves nothing (whoever announces the /48 gets its
  // replies), and sharing V's bucket would make them familiar wherever V's users sign in.
  if (g[0] === 0x2002) return alone(`6to4:${dotted(g[1]!, g[2]!)}`);
  const hex = (n: number) => g.slice(0, n).map((x) => x.toString(16)).join(':');
  return { bucket: `${hex(4)}::/64`, site: `${hex(3)}::/48` };
}

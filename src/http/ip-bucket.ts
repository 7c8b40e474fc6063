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

type ParsedIp = { v4: string } | { v6: number[] } | undefined;

function parseIp(clientIp: string): ParsedIp {
  let ip = clientIp.trim().toLowerCase();
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  const zone = ip.indexOf('%');
  if (zone >= 0) ip = ip.slice(0, zone);
  const version = isIP(ip);
  if (version === 4) return { v4: ip };
  if (version !== 6) return undefined;
  const g = ipv6Groups(ip);
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    const [hi = 0, lo = 0] = g.slice(6);
    return { v4: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` };
  }
  return { v6: g };
}

const prefix = (groups: number[], bits: 48 | 64) => `${groups.slice(0, bits / 16).map((x) => x.toString(16)).join(':')}::/${bits}`;

/**
 * The client a per-address rule counts against (rate limits, SMS sends, the sign-in lockout and its
 * familiar addresses). IPv4 (also when IPv4-mapped) counts per address; IPv6 per /64, because one
 * household or phone is routinely handed a whole /64: a guesser could otherwise rotate through
 * theirs, and a citizen's own address changes within theirs daily. Anything unparseable counts as itself.
 */
export function ipBucket(clientIp: string): string {
  const ip = parseIp(clientIp);
  if (!ip) return `unparsed:${clientIp}`;
  return 'v4' in ip ? ip.v4 : prefix(ip.v6, 64);
}

/**
 * The site an IPv6 client's /64 belongs to: its /48, the most a site (or a free tunnel broker's
 * customer) is given. Someone holding a /48 has 65,536 /64s, each a fresh budget of a per-/64
 * rule; the edge limits also count the site, with a larger budget. Undefined for IPv4.
 */
export function ipv6Site(clientIp: string): string | undefined {
  const ip = parseIp(clientIp);
  return ip && 'v6' in ip ? prefix(ip.v6, 48) : undefined;
}

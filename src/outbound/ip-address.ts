import net from 'node:net';

/** An IP address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

function parseIpv4(text: string): bigint {
  return text.split('.').reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
}

function parseIpv6(text: string): bigint {
  let body = text;
  // A trailing dotted quad (::ffff:127.0.0.1) is the last two groups.
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(body);
  if (dotted) {
    const v4 = parseIpv4(dotted[1]!);
    body = `${body.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = body.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((n, group) => (n << 16n) | BigInt(parseInt(group, 16)), 0n);
}

/** Parses an IPv4 or IPv6 literal (brackets and a zone id allowed), or returns undefined. */
export function parseIp(text: string): IpAddress | undefined {
  const bare = text.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  switch (net.isIP(bare)) {
    case 4:
      return { family: 4, value: parseIpv4(bare) };
    case 6:
      return { family: 6, value: parseIpv6(bare) };
    default:
      return undefined;
  }
}

/** A CIDR network such as `10.0.0.0/8` or `fd00::/8`; a bare address is a network of one. */
export interface IpNetwork {
  family: 4 | 6;
  prefix: bigint;
  bits: number;
}

export function parseNetwork(cidr: string): IpNetwork | undefined {
  const [address = '', bitsText, ...rest] = cidr.trim().split('/');
  const ip = parseIp(address);
  if (!ip || rest.length > 0) return undefined;
  const width = ip.family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? width : /^\d{1,3}$/.test(bitsText) ? Number(bitsText) : NaN;
  if (!(bits >= 0 && bits <= width)) return undefined;
  return { family: ip.family, prefix: ip.value >> BigInt(width - bits), bits };
}

export function inNetwork(ip: IpAddress, network: IpNetwork): boolean {
  if (ip.family !== network.family) return false;
  const width = ip.family === 4 ? 32 : 128;
  return ip.value >> BigInt(width - network.bits) === network.prefix;
}

/** Formats an address for logs, in its usual text form. */
export function formatIp(ip: IpAddress): string {
  if (ip.family === 4) return [24n, 16n, 8n, 0n].map((s) => String((ip.value >> s) & 0xffn)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((ip.value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

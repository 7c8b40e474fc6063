import type { Middleware } from 'koa';
import { formatIp, inNetwork, parseIp, parseNetwork } from '../outbound/ip-address.js';

/**
 * Behind the operator's own NAT64/SIIT translator (RFC 6052, config `nat64Prefixes`), every IPv4
 * client reaches Yihao as `<prefix>:a.b.c.d`, so per-address rules (rate limits, the sign-in
 * lockout, SMS limits, familiar addresses) and the audit log would see one IPv6 /64 for all of them:
 * one stranger's failures would refuse every IPv4 citizen. Inside a named prefix the client is the
 * IPv4 address the translator embedded. Only prefixes the operator names: elsewhere the IPv4 inside
 * an address proves nothing (whoever announces the prefix writes it), and it stays one /64.
 */
export function translatedClients(prefixes: readonly string[]): Middleware {
  const networks = prefixes.map((p) => parseNetwork(p)!);
  return (ctx, next) => {
    // `[address]:port`, as a proxy that writes the client's port puts it (ip-bucket.ts reads it too).
    const ip = parseIp(/^\[([^\]]+)\](?::\d+)?$/.exec(ctx.ip)?.[1] ?? ctx.ip);
    if (ip?.family === 6 && networks.some((n) => inNetwork(ip, n))) ctx.request.ip = formatIp({ family: 4, value: ip.value & 0xffffffffn });
    return next();
  };
}

/** A config value that names a translator's prefix: an IPv6 network of exactly /96 (RFC 6052's form with the IPv4 address last). */
export function translatorPrefixProblem(text: string): string | undefined {
  const network = parseNetwork(text);
  if (!network || network.family !== 6 || !text.includes('/')) return 'must be an IPv6 prefix such as 64:ff9b::/96';
  if (network.bits !== 96) return 'must be a /96: the IPv4 address is taken from the last 32 bits';
  return undefined;
}

import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { isSpecialUseIP } from './internals.js';

type Dispatcher = {
  constructor: new (options?: { connect?: { ca?: string[] } }) => Dispatcher;
  on(event: 'connect', listener: (origin: URL, targets: object[]) => void): void;
};

function parseNetworks(cidrs: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const cidr of cidrs) {
    const [address, bits] = cidr.split('/');
    const family = net.isIPv6(address ?? '') ? 'ipv6' : 'ipv4';
    if (!address || !net.isIP(address)) throw new Error(`outbound.allowedNetworks: "${cidr}" is not an IP network`);
    list.addSubnet(address, bits === undefined ? (family === 'ipv6' ? 128 : 32) : Number(bits), family);
  }
  return list;
}

function socketOf(target: object): net.Socket | undefined {
  const sym = Object.getOwnPropertySymbols(target).find((s) => s.description === 'socket');
  return sym ? ((target as Record<symbol, unknown>)[sym] as net.Socket | undefined) : undefined;
}

/** The public roots plus the operator's own CA certificates (checked by the config loader), or undefined for the defaults alone. */
const trustedCas = (file: string | undefined): string[] | undefined => (file ? [...tls.rootCertificates, readFileSync(file, 'utf8')] : undefined);

/**
 * oidc-provider refuses outbound requests (back-channel logout, sector_identifier_uri, jwks_uri) to
 * private and loopback addresses. Government apps live on internal networks, so the operator names
 * the networks that may be reached; every such connection is logged. Internal services often carry
 * certificates of the government's own CA: `trustedCaFile` adds it to the public roots.
 */
export function outboundFetch({ allowedNetworks, trustedCaFile }: { allowedNetworks: readonly string[]; trustedCaFile?: string | undefined }, logger: Logger) {
  const allowed = parseNetworks(allowedNetworks);
  const ca = trustedCas(trustedCaFile);
  let dispatcher: Dispatcher | undefined;

  return (url: URL | string, options: Omit<RequestInit, 'dispatcher'> & { dispatcher?: Dispatcher }) => {
    if (options.dispatcher) {
      dispatcher ??= (() => {
        const d = new options.dispatcher!.constructor(ca ? { connect: { ca } } : undefined);
        d.on('connect', (origin, targets) => {
          const socket = socketOf(targets[targets.length - 1]!);
          const address = socket?.remoteAddress;
          if (!socket || !address || !isSpecialUseIP(address)) return;
          const family = net.isIPv6(address) ? 'ipv6' : 'ipv4';
          if (allowed.check(address, family)) {
            logger.info({ event: 'outbound.internal', host: origin.host, address }, 'outbound request to an allowed internal network');
            return;
          }
          socket.destroy(new Error('hostname resolves to a special-use IP address outside outbound.allowedNetworks'));
        });
        return d;
      })();
      options.dispatcher = dispatcher;
    }
    return globalThis.fetch(url, options as RequestInit);
  };
}

import { ConfigError } from '../config/config-error.js';
import { parseNetwork, inNetwork, type IpAddress, type IpNetwork } from './ip-address.js';
import { embeddedIpv4, specialUseRange } from './special-use-addresses.js';

export type AddressVerdict = { allowed: true; internal?: string } | { allowed: false; range: string };

/**
 * Which addresses an outbound request may reach: every public address, and special-use ones
 * only inside the networks that the operator names (`outbound.allowedNetworks`,
 * `YIHAO_OUTBOUND_ALLOW`), because government apps live on internal networks.
 */
export function addressPolicy(allowedNetworks: readonly string[]) {
  const allowed: IpNetwork[] = allowedNetworks.map((cidr) => {
    const network = parseNetwork(cidr);
    if (!network) throw new ConfigError('outbound.allowedNetworks', `"${cidr}" is not an IP network`);
    return network;
  });
  const isAllowed = (ip: IpAddress) => allowed.some((n) => inNetwork(ip, n));

  return (ip: IpAddress): AddressVerdict => {
    const range = specialUseRange(ip);
    if (!range) return { allowed: true };
    const v4 = embeddedIpv4(ip);
    if (isAllowed(ip) || (v4 && isAllowed(v4))) return { allowed: true, internal: range };
    return { allowed: false, range };
  };
}
export type AddressPolicy = ReturnType<typeof addressPolicy>;

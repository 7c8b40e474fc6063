import { isIP } from 'node:net';

/**
 * WebAuthn's RP ID is a registrable domain: browsers refuse an IP address (WebAuthn L2 §5.1.3,
 * "effective domain" must be a valid domain). So an issuer reached by an IP address can hold no
 * passkeys, whatever the page does. `URL.hostname` keeps an IPv6 address in brackets.
 */
export function hostCanHoldPasskeys(hostname: string): boolean {
  return isIP(hostname.replace(/^\[(.*)\]$/, '$1')) === 0;
}

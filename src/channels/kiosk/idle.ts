import type { Configuration } from 'oidc-provider';
import { ID_CARD_GRANT, PRESENTATION_GRANT } from './grant-type.js';

type Ttl = NonNullable<Configuration['ttl']>;
interface TokenLike {
  gty?: string;
}
interface ClientLike {
  grantTypeAllowed(type: string): boolean;
}

/**
 * Whether a token belongs to a kiosk session: issued through the ID-card or presentation grant, or
 * through the device flow to a kiosk, a client registered for the ID-card or the presentation grant
 * (as the verifier API takes a kiosk, credentials/verifier-starters.ts). Until a review, only the
 * ID-card grant made a kiosk here: one with the phone and the wallet but no card reader kept its
 * sessions for the full token lifetimes, and could not end them. Another device's device flow (a
 * TV app) keeps the normal lifetimes. Refreshes keep the original `gty`.
 */
export const isKioskToken = (token: TokenLike | undefined, client: ClientLike | undefined): boolean => {
  const gty = token?.gty ?? '';
  if (gty.startsWith(ID_CARD_GRANT) || gty.startsWith(PRESENTATION_GRANT)) return true;
  return gty.startsWith('device_code') && client !== undefined && (client.grantTypeAllowed(ID_CARD_GRANT) || client.grantTypeAllowed(PRESENTATION_GRANT));
};

/**
 * Kiosk sessions end on idle with no timer and no cookie: a kiosk session's access and refresh
 * tokens live `idleSeconds`, and each refresh (a rotation) issues fresh ones. A kiosk left alone
 * holds nothing that still works after `idleSeconds`.
 */
export function withKioskIdle(base: Record<string, number>, idleSeconds: number): Ttl {
  const capped = (name: 'AccessToken' | 'RefreshToken') => (_ctx: unknown, token: TokenLike, client: ClientLike) =>
    isKioskToken(token, client) ? Math.min(idleSeconds, base[name]!) : base[name]!;
  return { ...base, AccessToken: capped('AccessToken'), RefreshToken: capped('RefreshToken') } as unknown as Ttl;
}

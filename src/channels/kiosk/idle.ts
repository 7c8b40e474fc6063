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
 * through the device flow, which is the kiosk's phone sign-in: a client with the device grant is a
 * kiosk (client-kinds.ts `kindOf`), whatever else it was registered for. Two reviews found the
 * narrower rules wrong: with the ID-card grant required, a kiosk without a card reader kept its
 * sessions for the full token lifetimes and could not end them; with the ID-card or presentation
 * grant required, a phone-only kiosk did. Refreshes keep the original `gty`.
 */
export const isKioskToken = (token: TokenLike | undefined, _client?: unknown): boolean => {
  const gty = token?.gty ?? '';
  return gty.startsWith(ID_CARD_GRANT) || gty.startsWith(PRESENTATION_GRANT) || gty.startsWith('device_code');
};

/**
 * Kiosk sessions end on idle with no timer and no cookie: a kiosk session's access and refresh
 * tokens live `idleSeconds`, and each refresh (a rotation) issues fresh ones. A kiosk left alone
 * holds nothing that still works after `idleSeconds`.
 */
export function withKioskIdle(base: Record<string, unknown> & { AccessToken: number; RefreshToken: number }, idleSeconds: number): Ttl {
  const capped = (name: 'AccessToken' | 'RefreshToken') => (_ctx: unknown, token: TokenLike, client: ClientLike) =>
    isKioskToken(token, client) ? Math.min(idleSeconds, base[name]) : base[name];
  return { ...base, AccessToken: capped('AccessToken'), RefreshToken: capped('RefreshToken') } as unknown as Ttl;
}

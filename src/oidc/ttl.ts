import type { Config } from '../config/index.js';

/**
 * A browser session lives `sessionSeconds` from its first save, however often it is used. Every
 * request that loads a session saves it again with this lifetime: as a plain number it gave each use
 * a fresh one, so a session (or a stolen cookie) used now and then never ended. The cap also keeps
 * true what an upstream login of unknown time is taken to be (docs/federation.md): no older than
 * the oldest login a session can carry.
 */
export const sessionLifetime =
  (sessionSeconds: number) =>
  (_ctx: unknown, session: { iat?: number }): number => {
    const now = Math.floor(Date.now() / 1000);
    return Math.max(1, (session.iat ?? now) + sessionSeconds - now);
  };

export function ttl(t: Config['ttl']) {
  return {
    Session: sessionLifetime(t.sessionSeconds),
    Interaction: t.interactionSeconds,
    AuthorizationCode: t.authorizationCodeSeconds,
    AccessToken: t.accessTokenSeconds,
    ClientCredentials: t.clientCredentialsSeconds,
    IdToken: t.idTokenSeconds,
    RefreshToken: t.refreshTokenSeconds,
    // A Grant that expired before its refresh tokens would silently end them early.
    Grant: Math.max(t.refreshTokenSeconds, t.sessionSeconds),
    DeviceCode: 600,
    BackchannelAuthenticationRequest: 600,
  };
}

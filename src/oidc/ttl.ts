import type { Config } from '../config/index.js';

export function ttl(t: Config['ttl']) {
  return {
    Session: t.sessionSeconds,
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

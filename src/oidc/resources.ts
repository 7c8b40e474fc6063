import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { Config } from '../config/index.js';

/** Resource indicators (RFC 8707): only the resource servers named in configuration exist. */
export function resourceIndicators(servers: Config['resourceServers']) {
  return {
    enabled: true,
    defaultResource: () => undefined as unknown as string,
    useGrantedResource: () => true,
    getResourceServerInfo(_ctx: KoaContextWithOIDC, indicator: string): ResourceServer {
      const server = servers[indicator];
      if (!server) throw new errors.InvalidTarget(`unknown resource indicator`);
      return {
        scope: server.scope,
        audience: server.audience ?? indicator,
        accessTokenFormat: server.accessTokenFormat,
        ...(server.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
      };
    },
  };
}

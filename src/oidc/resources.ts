import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import type { Config } from '../config/index.js';

/** Resource indicators (RFC 8707): only the resource servers named in configuration exist, each for the apps it names. */
export function resourceIndicators(servers: Config['resourceServers']) {
  return {
    enabled: true,
    defaultResource: () => undefined as unknown as string,
    useGrantedResource: () => true,
    getResourceServerInfo(_ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }): ResourceServer {
      const server = servers[indicator];
      if (!server) throw new errors.InvalidTarget(`unknown resource indicator`);
      // Each API names the apps its tokens are for (config `resourceServers.<uri>.clients`).
      if (server.clients[0] !== '*' && !server.clients.includes(client.clientId)) throw new errors.InvalidTarget('this client may not obtain tokens for this resource');
      return {
        scope: server.scope,
        audience: server.audience ?? indicator,
        accessTokenFormat: server.accessTokenFormat,
        ...(server.accessTokenFormat === 'jwt' ? { jwt: { sign: { alg: 'ES256' } } } : {}),
      };
    },
  };
}

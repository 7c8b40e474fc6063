import type { KoaContextWithOIDC, ResourceServer } from 'oidc-provider';
import { IDENTITY_SCOPE } from './identity-credential.js';

type ResourceFeature = {
  getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }): ResourceServer | Promise<ResourceServer>;
};

/**
 * Adds the credential issuer to the resource servers: a wallet asks for `resource` = the credential
 * issuer identifier (OID4VCI §5.1.2), which is Yihao's own issuer. Its tokens are opaque, so the
 * credential endpoint looks them up (a signed-out session's token is dead at once), and carry the
 * credential's scope.
 */
export function withCredentialResource<F extends ResourceFeature>(feature: F, issuer: string, accessTokenTTL: number): F {
  return {
    ...feature,
    getResourceServerInfo(ctx: KoaContextWithOIDC, asked: string, client: { clientId: string }) {
      if (asked !== issuer) return feature.getResourceServerInfo(ctx, asked, client);
      return { scope: IDENTITY_SCOPE, audience: issuer, accessTokenFormat: 'opaque', accessTokenTTL };
    },
  };
}

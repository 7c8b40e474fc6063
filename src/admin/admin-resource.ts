import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';

export const ADMIN_CONSOLE_CLIENT_ID = 'yihao-admin-console';
export const ADMIN_SCOPE = 'admin';
export const ADMIN_API_PATH = '/admin/api/v1';
/** The one scope a department's system may hold at the admin API (client_credentials): pushing its certificates. */
export const CERTIFICATES_PUSH_SCOPE = 'certificates:push';

/** The admin API's resource indicator (RFC 8707). */
export const adminResource = (issuer: string) => `${issuer}${ADMIN_API_PATH}`;

type ResourceFeature = {
  getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }): ResourceServer | Promise<ResourceServer>;
};

/**
 * Adds the admin API to the configured resource servers. Its tokens are opaque (the API looks them
 * up, so that revocation and sign-out take effect at once) and only the admin console may ask for
 * them: no other app can obtain a token that the operators' endpoints accept. The one exception is
 * a department's system, by client_credentials, with only the `certificates:push` scope.
 */
export function withAdminResource<F extends ResourceFeature>(feature: F, issuer: string, accessTokenTTL: number, isDepartmentSystem: (clientId: string) => Promise<boolean> = async () => false): F {
  const indicator = adminResource(issuer);
  return {
    ...feature,
    async getResourceServerInfo(ctx: KoaContextWithOIDC, asked: string, client: { clientId: string }) {
      if (asked !== indicator) return feature.getResourceServerInfo(ctx, asked, client);
      // A department's system gets only the certificate push scope, and no other client gets any
      // token for this resource: the same check as the admin API's (src/admin/department-system-auth.ts).
      if (client.clientId !== ADMIN_CONSOLE_CLIENT_ID && (ctx.oidc.params as { grant_type?: unknown } | undefined)?.grant_type === 'client_credentials') {
        if (!(await isDepartmentSystem(client.clientId))) throw new errors.InvalidTarget('this resource takes client_credentials tokens only from department systems (active service clients of a department)');
        return { scope: CERTIFICATES_PUSH_SCOPE, audience: indicator, accessTokenFormat: 'opaque', accessTokenTTL };
      }
      if (client.clientId !== ADMIN_CONSOLE_CLIENT_ID) throw new errors.InvalidTarget('this resource is reserved for the admin console');
      return { scope: ADMIN_SCOPE, audience: indicator, accessTokenFormat: 'opaque', accessTokenTTL };
    },
  };
}

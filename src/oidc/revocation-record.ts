import type { KoaContextWithOIDC } from 'oidc-provider';
import { holdRevocations } from '../storage/revocation-hold.js';

/**
 * oidc-provider's own `revokeGrantPolicy` (helpers/defaults.js): an app revoking an access token
 * keeps its grant; every other revocation (a refresh token revoked, a reuse, a logout) ends it. It
 * runs before any delete, so it is where the request starts holding its deletes until the
 * revocation's `grant.revoked` record goes with them (storage/revocation-hold.ts, oidc/events.ts).
 */
export function revokeGrantPolicy(ctx: KoaContextWithOIDC): boolean {
  const revokes = !(ctx.oidc.route === 'revocation' && ctx.oidc.entities.AccessToken);
  if (revokes) holdRevocations();
  return revokes;
}

type AllowedPolicy = (ctx: KoaContextWithOIDC, client: { clientId: string }, token: { clientId?: string }) => Promise<boolean>;

/**
 * The revocation endpoint deletes the token it was given before it revokes the token's grant
 * (actions/revocation.js). Held from its allowed policy on, that delete waits with the others: a
 * revocation that fails leaves the token, so the app's retry (RFC 7009 §2.2.1: a 503 asks for one)
 * finds it and finishes the revocation, instead of an answer of 200 for a token already gone.
 */
export const holdingRevocations =
  (allowed: AllowedPolicy): AllowedPolicy =>
  async (ctx, client, token) => {
    const ok = await allowed(ctx, client, token);
    if (ok) holdRevocations();
    return ok;
  };

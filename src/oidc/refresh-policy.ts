import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import { allowedChannelsOf, minAcrOf, SCOPES } from './client-metadata.js';
import { acrRank } from './acr-policy.js';
import { claimsConfig } from './claims.js';
import { currentFacts } from './token-facts.js';

/** What a refresh reads of its refresh token (oidc-provider's model, with our `facts`). */
interface RefreshTokenLike {
  acr?: string | undefined;
  grantId?: string | undefined;
  accountId?: string | undefined;
  scope?: string | undefined;
  claims?: Record<string, unknown> | undefined;
  resource?: string | string[] | undefined;
  /** oidc-provider's getter: the token's `resource` as a set. */
  readonly resourceIndicators?: Set<string>;
}

/** The provider's resource indicators feature (src/oidc/resources.ts and the wrappers around it). */
interface ResourceServers {
  getResourceServerInfo(ctx: KoaContextWithOIDC, indicator: string, client: { clientId: string }): unknown;
}

const statics: ReadonlySet<string> = new Set(SCOPES);

/**
 * A refresh gives no more than the client's registration allows now: an approved change that raised
 * its minimum level (`min_acr`) or dropped a scope holds for the refresh tokens it already has.
 * - A login below the minimum is refused (`invalid_grant`): the citizen signs in again, at the level.
 * - So is a login on a channel the client no longer accepts (`allowed_channels`).
 * - A scope the registration no longer lists (of the provider's own: not a resource server's) is
 *   left out of the tokens, and so is a claim asked for by name under one (the `claims` parameter,
 *   kept on the refresh token); asked for explicitly (`scope`), it is refused (`invalid_scope`), as
 *   oidc-provider refuses it at the authorization endpoint. The successor token keeps the narrowed set.
 *
 * oidc-provider 9's refresh grant has no hook of its own for this. Its `rotateRefreshToken` runs on
 * every refresh, after the token, its grant, the account and reuse have been checked and before
 * anything is spent or written, with the refresh token in `ctx.oidc.entities`; the access token, the
 * ID token and a rotated successor are then built from that token's `scope` and `claims`. So this
 * wraps it, reading only what the request already holds (no round trip). Access tokens issued before
 * the change keep what they were issued with until they expire.
 */
export function refreshPolicy(rotate: (ctx: KoaContextWithOIDC) => boolean, resources: ResourceServers) {
  return async (ctx: KoaContextWithOIDC): Promise<boolean> => {
    const client = ctx.oidc.client!;
    const token = ctx.oidc.entities.RefreshToken as unknown as RefreshTokenLike;
    const minimum = minAcrOf(client);
    // The model keeps only oidc-provider's own fields: the login's facts were noted as the token was read.
    const facts = currentFacts(token.grantId, token.accountId);
    const acr = token.acr ?? facts?.acr;
    if (minimum && acrRank(acr) < acrRank(minimum)) {
      throw new errors.CustomOIDCProviderError('invalid_grant', `this client now accepts sign-ins at ${minimum} or above; this one reached ${acr ?? 'no known level'}: sign in again`);
    }
    // Tokens from before logins' facts were kept name no channel; the session's record did.
    const channel = facts?.channel;
    if (channel && !allowedChannelsOf(client).includes(channel)) {
      throw new errors.CustomOIDCProviderError('invalid_grant', `this client no longer accepts sign-ins on the ${channel} channel: sign in again`);
    }
    if (client.scope !== undefined) narrowToRegistration(ctx, token, client.scope);
    await resourceBeforeRotation(ctx, token, resources);
    return rotate(ctx);
  };
}

/**
 * oidc-provider resolves the refresh's resource (RFC 8707) and asks for its resource server only
 * after it rotated the token: a refused `resource` (one the grant never held, an unknown API, one
 * that does not name this app) spent the refresh token without delivering its successor, and the
 * app's next refresh looked like a reuse and revoked the grant. So the same resolution
 * (oidc-provider 9.13, helpers/resolve_resource.js, with this provider's `useGrantedResource` and
 * `defaultResource`) and the same lookup are made here, before anything is spent.
 */
async function resourceBeforeRotation(ctx: KoaContextWithOIDC, token: RefreshTokenLike, resources: ResourceServers): Promise<void> {
  const asked = ctx.oidc.params?.resource as string | string[] | undefined;
  const resource = asked || token.resource;
  // Several at once resolve to none here (defaultResource answers undefined for a list).
  if (!resource || Array.isArray(resource)) return;
  if (!token.resourceIndicators?.has(resource)) throw new errors.InvalidTarget();
  await resources.getResourceServerInfo(ctx, resource, ctx.oidc.client!);
}

function narrowToRegistration(ctx: KoaContextWithOIDC, token: RefreshTokenLike, registration: string): void {
  const registered = new Set(['openid', ...registration.split(' ')]);
  const dropped = (scope: string) => statics.has(scope) && !registered.has(scope);
  const asked = typeof ctx.oidc.params?.scope === 'string' ? ctx.oidc.params.scope.split(' ').filter(dropped) : [];
  if (asked.length) throw new errors.InvalidScope('requested scope is not allowed', asked.join(' '));
  if (token.scope) token.scope = token.scope.split(' ').filter((s) => !dropped(s)).join(' ');
  const withheld = new Set(Object.entries(claimsConfig).flatMap(([scope, claims]) => (dropped(scope) ? claims : [])));
  if (!token.claims || withheld.size === 0) return;
  const narrowed: Record<string, unknown> = { ...token.claims };
  for (const member of ['id_token', 'userinfo'] as const) {
    const named = token.claims[member] as Record<string, unknown> | undefined;
    if (named) narrowed[member] = Object.fromEntries(Object.entries(named).filter(([claim]) => !withheld.has(claim)));
  }
  token.claims = narrowed;
}

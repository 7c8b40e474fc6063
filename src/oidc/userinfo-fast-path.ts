import type { IncomingHttpHeaders } from 'node:http';
import type { Middleware } from 'koa';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { userinfoInternals } from './internals.js';

/** What oidc-provider's getAccessToken accepts in the Authorization header without DPoP: `Bearer <token>`, any case. */
function bearerToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const parts = header.split(' ');
  return parts.length === 2 && parts[0]!.toLowerCase() === 'bearer' && parts[1] ? parts[1] : undefined;
}

/** A body could carry a second access token (or a `scope`), which oidc-provider must judge. */
const mayHaveBody = (h: IncomingHttpHeaders): boolean =>
  h['content-type'] !== undefined || h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');

/**
 * userinfo without oidc-provider's request pipeline, for the request that is nearly all of its
 * traffic: `GET` with `Authorization: Bearer`, no query, body, Origin or DPoP. Relying parties call
 * userinfo far more often than citizens sign in, and the pipeline (its context, parameter parsing,
 * CORS and error plumbing, each a few async steps) was most of what userinfo cost (bench/README.md).
 *
 * It answers only a success, and only where oidc-provider's userinfo action (9.13,
 * lib/actions/userinfo.js) answers one with the same body and headers: the same token, client,
 * grant and account reads, the same configured findAccount and claim filters. Anything else goes on
 * to oidc-provider, which then answers it as before: every error (so their wording and
 * WWW-Authenticate stay its own), sender-constrained tokens (DPoP, mTLS), tokens with an audience,
 * clients that want signed or encrypted userinfo, cross-origin calls (client-based CORS), POST and
 * the `scope` parameter. test/integration/userinfo-fast-path.test.ts holds the two side by side.
 */
export function userinfoFastPath(provider: Provider): Middleware {
  const { findAccount, route, filterClaims, exposedHeaders } = userinfoInternals(provider);
  // Not async itself: every other request passes through without a promise of its own.
  return (ctx, next) => {
    if (ctx.path !== route || ctx.method !== 'GET' || ctx.querystring || mayHaveBody(ctx.headers) || ctx.headers.origin !== undefined || ctx.headers.dpop !== undefined) return next();
    const value = bearerToken(ctx.headers.authorization);
    return value ? answer(ctx, value, next) : next();
  };

  async function answer(ctx: Parameters<Middleware>[0], value: string, next: () => Promise<unknown>): Promise<unknown> {
    // noCache: first, as in oidc-provider, so that an answer to a failed store read is not cached either.
    ctx.set('cache-control', 'no-store');

    const token = await provider.AccessToken.find(value);
    // validateAccessToken, its `openid` scope check, and validateAudience.
    if (!token || token.isExpired || token.isSenderConstrained() || !token.scopes.has('openid') || token.aud !== undefined) return next();
    if (!token.clientId || !token.accountId || !token.grantId) return next();
    const [client, grant] = await Promise.all([provider.Client.find(token.clientId), provider.Grant.find(token.grantId, { ignoreExpiration: true })]);
    // loadAccessTokenClient and loadAccessTokenGrant; a signed or encrypted answer is oidc-provider's to make.
    if (!client || client.userinfoSignedResponseAlg || client.userinfoEncryptedResponseAlg) return next();
    if (!grant || grant.isExpired || grant.clientId !== token.clientId || grant.accountId !== token.accountId) return next();
    // What findAccount and the claims reads look at: the client (its citizen-ID policy) and the token.
    const oidc = { client, accessToken: token, grant, route: 'userinfo' };
    const context = { oidc } as unknown as KoaContextWithOIDC;
    const account = await findAccount(context, token.accountId, token);
    if (!account || typeof account.accountId !== 'string' || typeof account.claims !== 'function') return next();

    // respond: the same filters, in the same order.
    const requested = filterClaims(token.claims, grant);
    const rejected = grant.getRejectedOIDCClaims();
    const scope = grant.getOIDCScopeFiltered(new Set(String(token.scope).split(' ')));
    const available = { ...(await account.claims('userinfo', scope, requested, rejected)), sub: account.accountId };
    const claims = new provider.Claims(available, { ctx: context, client });
    claims.scope(scope);
    claims.mask(requested);
    claims.rejected(rejected);
    const body = await claims.result();

    // The CORS middleware's answer to a request without Origin.
    ctx.vary('Origin');
    ctx.set('access-control-allow-origin', '*');
    ctx.set('access-control-expose-headers', exposedHeaders);
    // The route oidc-provider's router would have matched, for the request metrics.
    (ctx as { _matchedRoute?: string })._matchedRoute = route;
    ctx.body = body;
    return undefined;
  }
}

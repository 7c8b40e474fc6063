// The one place that reaches into oidc-provider's internals. Keep it small, and re-check it on
// every oidc-provider upgrade (the version is pinned with `~`).

// `lib/helpers/grants.js` is meant for custom grants (typed, but outside semver). Re-checked on every
// oidc-provider upgrade.
import * as internalGrantHelpers from 'oidc-provider/lib/helpers/grants.js';
import instance from 'oidc-provider/lib/helpers/weak_cache.js';
import filterClaims from 'oidc-provider/lib/helpers/filter_claims.js';
import revoke from 'oidc-provider/lib/helpers/revoke.js';
import isValidScope from 'oidc-provider/lib/helpers/is_valid_scope.js';
import als from 'oidc-provider/lib/helpers/als.js';
import getErrorHandler from 'oidc-provider/lib/shared/error_handler.js';
import type { AsyncLocalStorage } from 'node:async_hooks';
import { errors, type FindAccount, type KoaContextWithOIDC } from 'oidc-provider';

/** The token response's members, as oidc-provider's own grants build it. */
export interface TokenResponseFields {
  accessToken: string;
  expiresIn: number;
  idToken?: string | undefined;
  issuedTokenType?: string | undefined;
  refreshToken?: string | undefined;
  scope: string;
  tokenType: string;
}

/** `invalid_grant` that says which rule failed (oidc-provider's own InvalidGrant says only "grant request is invalid"). */
class DescribedInvalidGrant extends errors.CustomOIDCProviderError {
  constructor(description: string) {
    super('invalid_grant', description);
  }
}

/**
 * oidc-provider's own grant plumbing for an extension grant (registerGrantType): DPoP validation,
 * requirement and binding, the refresh-token policy and bindings, and the token response, exactly as
 * its built-in grants do them. The one issuing function (grant-tokens.ts) is built on these.
 */
export function grantPlumbing(provider: object) {
  const helpers = Object.fromEntries(
    Object.entries(internalGrantHelpers as Record<string, (...args: unknown[]) => unknown>).map(([name, helper]) => [name, helper.bind(undefined, provider)]),
  );
  return {
    /** The request's validated DPoP proof ({ thumbprint, jti, iat }), or undefined without one. */
    validateDpop: (ctx: unknown) => helpers.validateDpop!(ctx) as Promise<{ thumbprint: string } | undefined>,
    /**
     * Refuses a request without a DPoP proof from a client whose tokens must be DPoP-bound
     * (`dpop_bound_access_tokens`, RFC 9449 §5.2), with the built-in grants' answer: `invalid_grant`,
     * its description ("DPoP proof JWT not provided") shown as Yihao's grants show theirs.
     */
    checkDpopRequired: (ctx: unknown, dPoP: { thumbprint: string } | undefined): void => {
      helpers.checkDpopRequired!(ctx, dPoP, DescribedInvalidGrant);
    },
    /** Binds an access token to the request's DPoP key (RFC 9449), spending the proof's jti as the built-in grants do. */
    bindDpop: async (ctx: { oidc: { client?: { clientId: string } | undefined } }, dPoP: { thumbprint: string } | undefined, token: { setThumbprint(kind: string, value: string): void }) => {
      if (!dPoP) return;
      await helpers.checkDpopReplay!(ctx, dPoP, ctx.oidc.client!.clientId);
      token.setThumbprint('jkt', dPoP.thumbprint);
    },
    /** The provider's `issueRefreshToken` policy for this client and source. */
    shouldIssueRefreshToken: (ctx: unknown, source: object) => helpers.shouldIssueRefreshToken!(ctx, source) as Promise<boolean>,
    /** A public client's refresh token takes its access token's sender constraint (DPoP key). */
    bindRefreshToken: (ctx: unknown, accessToken: unknown, refreshToken: unknown) => helpers.applyRefreshTokenBindings!(ctx, accessToken, refreshToken) as Promise<void>,
    tokenResponse: (fields: TokenResponseFields) => helpers.buildTokenResponse!(fields) as Record<string, unknown>,
  };
}

/**
 * oidc-provider 9.13 answers a failed device-flow request that arrived without a session (a bogus
 * `GET /device/auth`, `POST /device` without a form) with a 500: its error handler writes a CSRF
 * secret into the brand-new session after the session middleware has finished, and the route's
 * final `persist()` throws on a session that was never saved. A session that was never saved has no
 * cookie, so there is nothing to persist: skip it, and the error page the handler rendered (a 4xx)
 * goes out. Saving it instead would let anonymous requests create sessions.
 */
export function skipPersistOfUnsavedSessions(provider: { Session: { prototype: object } }): void {
  const proto = provider.Session.prototype as { persist(this: { exp?: unknown }): Promise<unknown> };
  const persist = proto.persist;
  proto.persist = function (this: { exp?: unknown }) {
    return typeof this.exp === 'number' ? persist.call(this) : Promise.resolve(undefined);
  };
}

/**
 * Every URL oidc-provider builds for a request (discovery's endpoints, the audiences a client
 * assertion may name, the `htu` a DPoP proof must name, interaction and device links) comes from
 * the issuer (its path included, as Yihao's own routes build theirs), not from the request's Host or a trusted
 * X-Forwarded-Host (OIDCContext.urlFor, oidc-provider 9.13). Otherwise a request naming an
 * attacker's host got discovery pointing there (for any shared cache to keep), and a client
 * assertion or DPoP proof that a client made for a server at that host counted here.
 */
export function urlsFromIssuer(provider: { OIDCContext: { prototype: object }; pathFor(name: string, opt?: object): string; issuer: string }): void {
  const base = provider.issuer.replace(/\/+$/, '');
  const proto = provider.OIDCContext.prototype as { urlFor(name: string, opt?: object): string };
  proto.urlFor = function urlFor(name: string, opt?: object): string {
    // Yihao serves the provider at the root of its own app (a proxy in front may add the issuer's path).
    return new URL(`${base}${provider.pathFor(name, { mountPath: '', ...opt })}`).href;
  };
}

/**
 * What userinfo-fast-path.ts answers with exactly as oidc-provider's userinfo action does: the
 * configured findAccount (with the channels' wrapper around it), the claims a token's `claims`
 * parameter asked for at userinfo (filtered by its grant), where the route is, and whether CORS
 * answers expose DPoP-Nonce.
 */
export function userinfoInternals(provider: object) {
  const configuration = instance(provider).configuration as {
    findAccount: FindAccount;
    routes: { userinfo: string };
    features: { dPoP: { enabled: boolean; nonceSecret?: unknown }; attestClientAuth: { enabled: boolean } };
  };
  const { dPoP } = configuration.features;
  return {
    findAccount: configuration.findAccount,
    route: configuration.routes.userinfo,
    filterClaims: (claims: unknown, grant: object) => filterClaims(claims, 'userinfo', grant),
    exposedHeaders: [dPoP.enabled && dPoP.nonceSecret ? 'DPoP-Nonce' : undefined, 'WWW-Authenticate'].filter(Boolean).join(','),
  };
}

/**
 * What token-fast-path.ts needs to run oidc-provider's own client_credentials, refresh_token and
 * authorization_code grants outside its token pipeline: the route, the grants' handlers as registered (bound to their
 * helpers) and the route's error handling,
 * the scope syntax rule of the pipeline's validateScope step, whether client authentication could
 * involve anything besides a secret (mTLS, attestation), the Context class its helpers expect and
 * the AsyncLocalStorage its models read that context from.
 */
export function tokenInternals(provider: object) {
  const state = instance(provider) as unknown as {
    configuration: {
      routes: { token: string };
      features: { mTLS: { enabled: boolean }; attestClientAuth: { enabled: boolean; additionalSecuritySignal?: unknown }; dPoP: { enabled: boolean; nonceSecret?: unknown } };
    };
    grantTypeHandlers: Map<string, (ctx: unknown) => Promise<void>>;
  };
  const { features } = state.configuration;
  return {
    route: state.configuration.routes.token,
    clientCredentials: state.grantTypeHandlers.get('client_credentials'),
    refreshToken: state.grantTypeHandlers.get('refresh_token'),
    authorizationCode: state.grantTypeHandlers.get('authorization_code'),
    /** The token route's error handling (its `grant.error` event included), as its router stack has it. */
    grantErrors: getErrorHandler('grant.error'),
    isValidScope: isValidScope as (scope: unknown) => boolean,
    secretsOnly: !features.mTLS.enabled && !features.attestClientAuth.additionalSecuritySignal,
    /** The token route's CORS answer (exposeHeaders() in oidc-provider's initialize_app.js). */
    exposedHeaders: [
      features.dPoP.enabled && features.dPoP.nonceSecret ? 'DPoP-Nonce' : undefined,
      features.attestClientAuth.enabled ? 'OAuth-Client-Attestation-Challenge' : undefined,
      'WWW-Authenticate',
    ]
      .filter(Boolean)
      .join(','),
    Context: (provider as { OIDCContext: new (ctx: object) => object }).OIDCContext,
    als: als as AsyncLocalStorage<unknown>,
  };
}

/**
 * Revokes a grant exactly as oidc-provider's own reuse detection does (refresh_token.js on a used
 * refresh token, grant_source.js on a used code): every token of the grant, the grant itself under
 * `revokeGrantPolicy`, and the `grant.revoked` event the audit log records.
 */
export const revokeGrant = (ctx: KoaContextWithOIDC, grantId: string): Promise<void> => revoke(ctx, grantId);

/**
 * oidc-provider's Client.find serialises and hashes the stored client on every call, to find the
 * Client instance it built from it before (models/client.js, 9.13). The client cache
 * (storage/client-cache.ts) hands out one unchanging object per stored client, so the instance is
 * found by that object instead; any other object (a client read afresh after a change, or with no
 * cache) goes through oidc-provider's own find, and its instance is remembered for that object.
 */
export function clientsByPayload(provider: { Client: { find(id: string): Promise<unknown>; adapter?: unknown } }): void {
  const Client = provider.Client as unknown as { find(id: string): Promise<unknown>; adapter: { find(id: string): Promise<object | undefined | void> } };
  const find = Client.find.bind(Client);
  const instances = new WeakMap<object, unknown>();
  Client.find = async (id: string) => {
    if (typeof id !== 'string' || !id.length) return find(id);
    const properties = await Client.adapter.find(id);
    const known = properties ? instances.get(properties) : undefined;
    if (known) return known;
    // The same read again (a cache hit, no round trip), then oidc-provider's own checks and instance.
    const client = await find(id);
    if (properties && client) instances.set(properties, client);
    return client;
  };
}

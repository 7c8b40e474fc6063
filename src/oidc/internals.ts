// The one place that reaches into oidc-provider's internals. Keep it small, and re-check it on
// every oidc-provider upgrade (the version is pinned with `~`).

// `lib/helpers/grants.js` is meant for custom grants (typed, but outside semver); `issueTokens` is
// the step the built-in grants share. Both are re-checked on every oidc-provider upgrade.
import * as internalGrantHelpers from 'oidc-provider/lib/helpers/grants.js';
// @ts-expect-error -- no types ship for internal modules
import { applyDpopBinding as internalApplyDpopBinding, issueTokens as internalIssueTokens } from 'oidc-provider/lib/helpers/grant_common.js';

/** What an extension grant hands oidc-provider's own token issuance (the fields its grants read). */
export interface GrantSource {
  accountId: string;
  acr: string;
  amr: string[];
  authTime: number;
  sessionUid: string;
  expiresWithSession: boolean;
  grantId: string;
  scope: string;
  scopes: Set<string>;
  claims: Record<string, unknown>;
}

/**
 * oidc-provider's own grant plumbing for an extension grant (registerGrantType): DPoP validation,
 * and issuing access, refresh and ID tokens exactly as its built-in grants do (bindings, resource
 * indicators, refresh-token policy, ID token claims).
 */
export function grantPlumbing(provider: object) {
  const helpers = Object.fromEntries(
    Object.entries(internalGrantHelpers as Record<string, (...args: unknown[]) => unknown>).map(([name, helper]) => [name, helper.bind(undefined, provider)]),
  );
  return {
    /** The request's validated DPoP proof ({ thumbprint, jti, iat }), or undefined without one. */
    validateDpop: (ctx: unknown) => helpers.validateDpop!(ctx) as Promise<{ thumbprint: string } | undefined>,
    /** Binds an access token to the request's DPoP key (RFC 9449), spending the proof's jti as the built-in grants do. */
    bindDpop: (ctx: unknown, dPoP: { thumbprint: string } | undefined, token: unknown) => (internalApplyDpopBinding as (...args: unknown[]) => Promise<void>)(provider, ctx, dPoP, token),
    issueTokens: (ctx: unknown, source: GrantSource, grant: unknown, opts: { gty: string; entityLabel: string; dPoP: unknown }) =>
      (internalIssueTokens as (...args: unknown[]) => Promise<void>)(provider, helpers, ctx, source, grant, { ...opts, cert: undefined }),
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

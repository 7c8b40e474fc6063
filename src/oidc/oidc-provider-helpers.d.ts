// Types for the untyped oidc-provider helpers that internals.ts reaches into (oidc-provider 9.13).
// Re-checked on every oidc-provider upgrade, with internals.ts.

declare module 'oidc-provider/lib/helpers/weak_cache.js' {
  /** oidc-provider's private per-instance state: its resolved configuration among it. */
  export default function instance(provider: object): { configuration: Record<string, unknown> };
}

declare module 'oidc-provider/lib/helpers/filter_claims.js' {
  /** The claims a `claims` request parameter asked for at `target`, less those the grant does not allow. */
  export default function filterClaims(source: unknown, target: 'userinfo' | 'id_token', grant: object): { [claim: string]: import('oidc-provider').ClaimsParameterMember | null };
}

declare module 'oidc-provider/lib/helpers/revoke.js' {
  /**
   * What oidc-provider does to a grant on a reused code or refresh token: deletes every token of the
   * grant (of the grant types the client may use) and, under `revokeGrantPolicy`, the grant itself,
   * emitting `grant.revoked`.
   */
  export default function revoke(ctx: import('oidc-provider').KoaContextWithOIDC, grantId: string): Promise<void>;
}

declare module 'oidc-provider/lib/helpers/is_valid_scope.js' {
  /** The token pipeline's scope syntax rule (RFC 6749 §3.3): absent, or space-separated NQCHAR words. */
  export default function isValidScope(scope: unknown): boolean;
}

declare module 'oidc-provider/lib/helpers/als.js' {
  /** The request context oidc-provider's models read (`als.getStore()`), set by its router for each request. */
  const als: import('node:async_hooks').AsyncLocalStorage<unknown>;
  export default als;
}

declare module 'oidc-provider/lib/shared/error_handler.js' {
  /**
   * The error handling of a route's middleware stack: the error's status and body (or error page),
   * and `eventName` (or `server_error`) emitted with it.
   */
  export default function getErrorHandler(eventName: string): (ctx: unknown, next: () => Promise<unknown>) => Promise<void>;
}

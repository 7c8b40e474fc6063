// The one place that reaches into oidc-provider's internals. Keep it small, and re-check it on
// every oidc-provider upgrade (the version is pinned with `~`).
// @ts-expect-error -- no types ship for internal modules
import { isSpecialUseIP as internalIsSpecialUseIP } from 'oidc-provider/lib/helpers/fetch_request.js';

/** oidc-provider's own list of loopback, private and other special-use addresses. */
export const isSpecialUseIP = internalIsSpecialUseIP as (address: string) => boolean;

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

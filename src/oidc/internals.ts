// The one place that reaches into oidc-provider's internals. Keep it small, and re-check it on
// every oidc-provider upgrade (the version is pinned with `~`).
// @ts-expect-error -- no types ship for internal modules
import { isSpecialUseIP as internalIsSpecialUseIP } from 'oidc-provider/lib/helpers/fetch_request.js';

/** oidc-provider's own list of loopback, private and other special-use addresses. */
export const isSpecialUseIP = internalIsSpecialUseIP as (address: string) => boolean;

import type { Logger } from 'pino';
import { outboundFetch } from '../oidc/outbound.js';

export type UpstreamFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * The dispatcher behind Node's own fetch, found the way oidc-provider finds it: `outboundFetch`
 * builds its guarded dispatcher from that class.
 */
function globalDispatcher(): object | undefined {
  void Response; // loads Node's bundled undici, which installs the global dispatcher
  const g = globalThis as unknown as Record<symbol, object | undefined>;
  return g[Symbol.for('undici.globalDispatcher.2')] ?? g[Symbol.for('undici.globalDispatcher.1')];
}

/**
 * Every request to an upstream (discovery, token, userinfo, JWKS) goes through the same outbound
 * guard as oidc-provider's own: loopback and private addresses only within
 * `outbound.allowedNetworks`, each such connection logged; https trusts `outbound.trustedCaFile`
 * too. And each request has a deadline, so a
 * slow upstream costs the citizen seconds, not minutes.
 */
export function upstreamFetch(outbound: Parameters<typeof outboundFetch>[0], logger: Logger, timeoutMs: number): UpstreamFetch {
  const guarded = outboundFetch(outbound, logger);
  return (url, init = {}) => {
    const dispatcher = globalDispatcher();
    if (!dispatcher) return Promise.reject(new Error('outbound requests cannot be guarded: fetch has no dispatcher'));
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    return guarded(url, { ...init, signal, dispatcher: dispatcher as never });
  };
}

import type { Outbound } from '../outbound/index.js';

export type UpstreamFetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * Every request to an upstream (discovery, token, userinfo, JWKS) goes through the one outbound
 * guard (src/outbound), with a deadline of its own, so that a slow upstream costs the citizen
 * seconds, not minutes.
 */
export function upstreamFetch(outbound: Pick<Outbound, 'fetch'>, timeoutMs: number): UpstreamFetch {
  return (url, init = {}) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    return outbound.fetch(url, { ...init, signal });
  };
}

import { ACR, ACR_VALUES, type Acr } from '../accounts/index.js';
import { acrRank } from '../oidc/acr-policy.js';
import { RFC8176_AMR, type Upstream } from './upstream.js';

/**
 * The level a sign-in through `upstream` reaches: its `acr` through the upstream's map (our own
 * values stand for themselves), one factor when unknown or missing, and never above the cap.
 */
export function mappedAcr(upstream: Pick<Upstream, 'acrMap' | 'maxAcr'>, upstreamAcr: unknown): Acr {
  const own = ACR_VALUES.find((v) => v === upstreamAcr);
  const mapped = (typeof upstreamAcr === 'string' && Object.hasOwn(upstream.acrMap, upstreamAcr) ? upstream.acrMap[upstreamAcr] : own) ?? ACR.oneFactor;
  return acrRank(mapped) > acrRank(upstream.maxAcr) ? upstream.maxAcr : mapped;
}

/** `fed` first; then, from an upstream trusted for it, its own registered (RFC 8176) values. */
export function federatedAmr(upstream: Pick<Upstream, 'trustAmr'>, upstreamAmr: unknown): string[] {
  const passed = upstream.trustAmr && Array.isArray(upstreamAmr) ? upstreamAmr.filter((v): v is string => typeof v === 'string' && RFC8176_AMR.has(v)) : [];
  return [...new Set(['fed', ...passed])];
}

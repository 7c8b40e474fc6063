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

/**
 * The upstream `acr` values that would meet `wanted` here: mapped ones, and our own values that the
 * upstream says it supports. Sent as `acr_values`, so that the upstream steps the citizen up itself.
 */
export function upstreamAcrValuesFor(upstream: Pick<Upstream, 'acrMap' | 'maxAcr'>, wanted: Acr | undefined, supported: readonly string[] = []): string[] {
  if (!wanted || acrRank(wanted) <= acrRank(ACR.oneFactor) || acrRank(wanted) > acrRank(upstream.maxAcr)) return [];
  const mapped = Object.entries(upstream.acrMap)
    .filter(([, ours]) => acrRank(ours) >= acrRank(wanted))
    .map(([theirs]) => theirs);
  const own = ACR_VALUES.filter((v) => acrRank(v) >= acrRank(wanted) && supported.includes(v));
  return [...new Set([...mapped, ...own])];
}

/** `fed` first; then, from an upstream trusted for it, its own registered (RFC 8176) values. */
export function federatedAmr(upstream: Pick<Upstream, 'trustAmr'>, upstreamAmr: unknown): string[] {
  const passed = upstream.trustAmr && Array.isArray(upstreamAmr) ? upstreamAmr.filter((v): v is string => typeof v === 'string' && RFC8176_AMR.has(v)) : [];
  return [...new Set(['fed', ...passed])];
}

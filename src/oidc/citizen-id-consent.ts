/**
 * A consent to the ID number covers what the client's policy revealed when the citizen gave it: a
 * consent to a masked number is no consent to the full one. An approved change that lets a client
 * see more of the number (another policy, unless it is `none` or the old one was `full`) sets the
 * client's `citizen_id_consent_since` (admin/client-service.ts). A grant dated before it releases
 * none of the number, not to the tokens it already backs nor on refresh, and a sign-in asks for it
 * again on a consent page that says what the policy reveals now. A lowered policy needs nothing:
 * the client's current policy is what every grant releases, at once.
 *
 * A grant's date is its `iat`, moved on when the citizen allows citizen_id in it again.
 */

import type { Grant } from 'oidc-provider';
import type { CitizenIdRelease } from '../identity/index.js';
import { citizenIdConsentSinceOf, citizenIdReleaseOf } from './client-metadata.js';

type ClientLike = Parameters<typeof citizenIdReleaseOf>[0];
type Dated = { iat?: number | undefined };

const CITIZEN_ID = 'citizen_id';

// A grant made in this request has no `iat` of its own yet (oidc-provider dates only the stored
// record): it is new, not older. No grant at all releases nothing.
const predates = (since: number | undefined, grant: Dated | undefined): boolean =>
  since !== undefined && (grant === undefined || (grant.iat !== undefined && grant.iat < since));

/** The policy `citizen_id` is released under from `grant`: the client's, or `none` for a grant dated before it. */
export const citizenIdReleaseFrom = (client: ClientLike, grant: Dated | undefined): CitizenIdRelease =>
  predates(citizenIdConsentSinceOf(client), grant) ? 'none' : citizenIdReleaseOf(client);

/**
 * Takes citizen_id (the scope, and the claim asked for by name) out of a grant dated before the
 * client's policy, so that oidc-provider's consent prompt finds it missing and asks. Not saved: the
 * stored grant keeps it, and releases nothing of it, until the citizen allows it again.
 */
export function withholdOutdatedCitizenId(client: ClientLike, grant: Grant): void {
  const { openid } = grant;
  if (!openid || !predates(citizenIdConsentSinceOf(client), grant)) return;
  if (openid.scope) openid.scope = openid.scope.split(' ').filter((s) => s !== CITIZEN_ID).join(' ');
  if (openid.claims) openid.claims = openid.claims.filter((c) => c !== CITIZEN_ID);
}

/** Whether the citizen allows citizen_id now, by scope or by name. */
export const allowsCitizenId = (scopes: readonly string[], claims: readonly string[]): boolean => scopes.includes(CITIZEN_ID) || claims.includes(CITIZEN_ID);

/**
 * Dates a grant in which the citizen has just allowed citizen_id, under the client's policy as it
 * is now (`since`: its `citizen_id_consent_since`), so that the grant releases under that policy.
 * A consent in the very second of the change is dated to the next one, from which grants count.
 * Call it before the grant is saved.
 */
export function dateCitizenIdConsent(since: number | undefined, grant: Dated): void {
  if (since !== undefined && !(grant.iat !== undefined && grant.iat >= since)) grant.iat = Math.max(Math.floor(Date.now() / 1000), since);
}

import type { KoaContextWithOIDC, Grant } from 'oidc-provider';
import type { Authentication } from '../accounts/index.js';
import type { SessionAuthentications } from './session-authentications.js';
import { noteLogin } from './token-facts.js';
import { citizenIdConsentSinceOf, metadataOf } from './client-metadata.js';
import { rememberAbsent } from '../storage/request-memo.js';
import { grantFromAllowed, type AllowedBeforeLookup } from './remembered-consent.js';
import { claimsForClient } from './claims.js';
import { allowsCitizenId, dateCitizenIdConsent, withholdOutdatedCitizenId } from './citizen-id-consent.js';

export const isFirstParty = (client: { metadata(): Record<string, unknown> } | undefined): boolean => client !== undefined && metadataOf(client).first_party === true;

/**
 * Runs on every authorization request. Two jobs that need the same moment (right after the login
 * result has been applied to the session):
 * - remember the login's full Authentication (with its channel) beside the session;
 * - for a first-party client, record consent in a real, saved Grant rather than skipping the check:
 *   the consent prompt still runs and finds nothing missing; revoking the grant revokes the tokens.
 * - for other clients, a session with no grant for the client yet starts from what the citizen
 *   allowed it before, while a grant of theirs for it lives (remembered-consent.ts); a session's
 *   grant allowed before the client's ID-number policy revealed what it does now is asked about
 *   citizen_id again (citizen-id-consent.ts).
 */
export function loadExistingGrant(authentications: SessionAuthentications, allowedBefore?: AllowedBeforeLookup) {
  return async (ctx: KoaContextWithOIDC): Promise<Grant | undefined> => {
    const { oidc } = ctx;
    const result = oidc.result as { login?: { authentication?: Authentication }; consent?: unknown } | undefined;
    const login = result?.login;
    // A consent result carries the earlier login along (merged); that login was saved already.
    if (login?.authentication && !result?.consent && oidc.session?.uid) {
      // A session created by this very request has no record yet: nothing to read before saving it.
      if ((oidc.session as { new?: boolean }).new) rememberAbsent('SessionAuthentication', oidc.session.uid as string);
      await authentications.save(oidc.session.uid, login.authentication);
    }
    // What the codes and tokens issued from this request will carry: the login just finished, or
    // the signed-in session's (read once here rather than by every later token use).
    if (login?.authentication) noteLogin(login.authentication);
    else if (oidc.session?.accountId && oidc.session.uid) {
      const auth = await authentications.find(oidc.session.uid as string);
      if (auth) noteLogin(auth);
    }

    const client = oidc.client!;
    const grantId = (oidc.result as { consent?: { grantId?: string } } | undefined)?.consent?.grantId || oidc.session!.grantIdFor(client.clientId);
    let grant = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
    const accountId = oidc.session?.accountId;
    if (!accountId) return grant;
    if (!isFirstParty(client)) {
      if (grant) {
        withholdOutdatedCitizenId(client, grant);
        return grant;
      }
      // prompt=consent: the app wants the citizen asked afresh, about everything it asks for.
      if (!allowedBefore || (oidc.prompts as Set<string>).has('consent')) return grant;
      const before = await allowedBefore.find(accountId, client.clientId);
      const remembered = before && grantFromAllowed(ctx, before, accountId);
      if (remembered) await remembered.save();
      return remembered;
    }

    grant ??= new oidc.provider.Grant({ clientId: client.clientId, accountId });
    const scopes = [...(oidc.requestParamOIDCScopes as Set<string>)].join(' ');
    if (scopes) grant.addOIDCScope(scopes);
    // Claims asked for by name: only those under the client's registered scopes (claims.ts).
    const claims = claimsForClient(client, (oidc.requestParamClaims as Set<string> | undefined) ?? []);
    if (claims.allowed.length) grant.addOIDCClaims(claims.allowed);
    if (claims.refused.length) grant.rejectOIDCClaims(claims.refused);
    for (const [indicator, server] of Object.entries(oidc.resourceServers ?? {})) {
      const allowed = new Set(String((server as { scope?: string }).scope ?? '').split(' '));
      const wanted = String(oidc.params?.scope ?? '').split(' ').filter((s) => allowed.has(s));
      if (wanted.length) grant.addResourceScope(indicator, wanted.join(' '));
    }
    // Recorded, not asked: under the client's policy as it is at this sign-in.
    if (allowsCitizenId([...(oidc.requestParamOIDCScopes as Set<string>)], claims.allowed)) dateCitizenIdConsent(citizenIdConsentSinceOf(client), grant);
    await grant.save();
    return grant;
  };
}

import { ACR, type Authentication } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { acrRank } from '../oidc/acr-policy.js';
import type { CredentialOffers } from './credential-offers.js';
import { IDENTITY_CONFIGURATION_ID } from './identity-credential.js';

/**
 * The portal's "add my identity credential to a wallet": an offer made from the citizen's own Yihao
 * session, stating that session's login (so the credential's level is the level the citizen signed
 * in at), and only if that login reached the level the identity credential needs. The portal asks
 * for more before it calls this, as for a passkey: a fresh sign-in, and after a phone's approval the
 * account's SMS code (src/portal/lasting-credential-gate.ts).
 */
export function identityOffers(deps: { offers: CredentialOffers; authentications: { find(sessionUid: string): Promise<Authentication | undefined> }; audit: AuditLog }) {
  return {
    async offerIdentity(who: { sub: string; sessionUid: string; ip?: string | undefined; requestId?: string | undefined }) {
      const authentication = await deps.authentications.find(who.sessionUid);
      if (!authentication || authentication.accountId !== who.sub || acrRank(authentication.acr) < acrRank(ACR.twoFactor)) return undefined;
      const offer = await deps.offers.create({ authentication, sub: who.sub, configurationIds: [IDENTITY_CONFIGURATION_ID], creator: { type: 'citizen', sub: who.sub } });
      await deps.audit.append({
        action: 'vc.offer_created',
        actorType: 'citizen',
        actorId: who.sub,
        accountId: who.sub,
        ip: who.ip,
        requestId: who.requestId,
        details: { configurations: [IDENTITY_CONFIGURATION_ID], acr: authentication.acr, expires_at: offer.expiresAt },
      });
      return offer;
    },
  };
}

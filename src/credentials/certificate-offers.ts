import { ACR, type Authentication } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { acrRank } from '../oidc/acr-policy.js';
import type { Certificate, CertificateStore } from './certificate-store.js';
import { configurationIdOf } from './certificate-types.js';
import type { CreatedOffer, CredentialOffers } from './credential-offers.js';

/** The level a certificate's offer (and its credential) needs, as for the identity credential. */
export const CERTIFICATE_MIN_ACR = ACR.twoFactor;

/** Whether a wallet may get this certificate now: the account's, valid, within its validity. */
export const issuable = (c: Certificate | undefined, accountId: string, now: number): c is Certificate =>
  c !== undefined && c.accountId === accountId && c.status === 'valid' && c.validFrom <= now && c.validUntil > now;

/** Why the portal made no offer: the sign-in is below the level, or the certificate cannot be offered. */
export type CertificateOfferRefusal = 'sign_in' | 'not_found';

/**
 * The portal's "add to the Yihao app" for one certificate: an offer of that certificate (not the
 * newest of its type), made from the citizen's own Yihao session at loa:2 or above, only while the
 * certificate is theirs and valid. The offer names the certificate; its redemption binds the
 * wallet's token to it (offer-bindings.ts). The portal asks for more before it calls this, as for
 * the identity credential (src/portal/lasting-credential-gate.ts).
 */
export function certificateOffers(deps: { offers: CredentialOffers; certificates: Pick<CertificateStore, 'find'>; authentications: { find(sessionUid: string): Promise<Authentication | undefined> }; audit: AuditLog }) {
  return {
    async offerCertificate(who: { sub: string; accountId: string; sessionUid: string; certificateId: string; ip?: string | undefined; requestId?: string | undefined }): Promise<CreatedOffer | CertificateOfferRefusal> {
      const now = Date.now();
      const [authentication, certificate] = await Promise.all([deps.authentications.find(who.sessionUid), /^[A-Za-z0-9_-]{22}$/.test(who.certificateId) ? deps.certificates.find(who.certificateId) : undefined]);
      if (!issuable(certificate, who.accountId, now)) return 'not_found';
      if (!authentication || authentication.accountId !== who.sub || acrRank(authentication.acr) < acrRank(CERTIFICATE_MIN_ACR)) return 'sign_in';
      const configurationIds = [configurationIdOf(certificate.typeId)];
      const offer = await deps.offers.create({ authentication, sub: who.sub, configurationIds, certificateId: certificate.id, creator: { type: 'citizen', sub: who.sub } });
      await deps.audit.append({
        action: 'vc.offer_created',
        actorType: 'citizen',
        actorId: who.sub,
        accountId: who.sub,
        departmentId: certificate.departmentId,
        ip: who.ip,
        requestId: who.requestId,
        details: { configurations: configurationIds, certificate_id: certificate.id, acr: authentication.acr, expires_at: offer.expiresAt },
      });
      return offer;
    },
  };
}
export type CertificateOffers = ReturnType<typeof certificateOffers>;

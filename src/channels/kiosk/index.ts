import type Provider from 'oidc-provider';
import { CARD_GRANT_PARAMS, idCardGrant, type CardGrantDeps } from './card-grant.js';
import { ID_CARD_GRANT } from './grant-type.js';

export { ID_CARD_GRANT, CARD_ASSERTION_TYP, DEVICE_CODE_GRANT } from './grant-type.js';
export { withKioskIdle, isKioskToken } from './idle.js';
export { kioskSessionRouter } from './session.routes.js';
export { devicePages } from './device-pages.js';
export { identityProofing, raisesAtOnce, type IdentityProofing, type ProofingEvidence, type ProofingConfirmer, type ConfirmOutcome } from './identity-proofing.js';
export type { CardGrantDeps } from './card-grant.js';

/** The kiosk channel's token endpoint additions: the ID-card grant. */
export function registerKioskGrants(provider: Provider, deps: CardGrantDeps): void {
  provider.registerGrantType(ID_CARD_GRANT, idCardGrant(deps), CARD_GRANT_PARAMS);
}

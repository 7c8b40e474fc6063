import type Provider from 'oidc-provider';
import { CARD_GRANT_PARAMS, idCardGrant, type CardGrantDeps } from './card-grant.js';
import { ID_CARD_GRANT, PRESENTATION_GRANT } from './grant-type.js';
import { PRESENTATION_GRANT_PARAMS, presentationGrant, type PresentationGrantDeps } from './presentation-grant.js';

export { ID_CARD_GRANT, CARD_ASSERTION_TYP, DEVICE_CODE_GRANT, PRESENTATION_GRANT } from './grant-type.js';
export { withKioskIdle, isKioskToken } from './idle.js';
export { kioskSessionRouter } from './session.routes.js';
export { devicePages } from './device-pages.js';
export { identityProofing, raisesAtOnce, type IdentityProofing, type ProofingEvidence, type ProofingConfirmer, type ConfirmOutcome } from './identity-proofing.js';
export type { CardGrantDeps } from './card-grant.js';

/** The kiosk channel's token endpoint additions: the ID-card grant, and sign-in by presentation. */
export function registerKioskGrants(provider: Provider, deps: CardGrantDeps & { presentationSignIn: PresentationGrantDeps['signIn'] }): void {
  provider.registerGrantType(ID_CARD_GRANT, idCardGrant(deps), CARD_GRANT_PARAMS);
  provider.registerGrantType(PRESENTATION_GRANT, presentationGrant({ ...deps, signIn: deps.presentationSignIn }), PRESENTATION_GRANT_PARAMS);
}

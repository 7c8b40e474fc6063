export {
  birthDateOf,
  checkCharacter,
  genderOf,
  InvalidCitizenIdError,
  isCitizenIdShaped,
  maskCitizenId,
  parseCitizenId,
  SensitiveCitizenId,
  type CitizenId,
  type CitizenIdProblem,
} from './citizen-id.js';
export { createBlindIndex, createSealer, SealError, type Sealer, type SealKey, type SealVersion } from './sealer.js';
export { createCitizenIdVault, type CitizenIdOwner, type CitizenIdVault, type CitizenIndexVersions, type SealedCitizenId } from './sealed-citizen-id.js';
export { createPurposeKeys, type KeyPurpose, type Keyed, type PurposeKeys, type PurposeKeyRoots } from './purpose-keys.js';
export { CITIZEN_ID_RELEASE, releaseCitizenId, revealsNoMoreThan, type CitizenIdRelease } from './release-policy.js';

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
export { createBlindIndex, createSealer, SealError, type Sealer, type SealKey } from './sealer.js';
export { createCitizenIdVault, type CitizenIdVault, type SealedCitizenId } from './sealed-citizen-id.js';
export { CITIZEN_ID_RELEASE, releaseCitizenId, type CitizenIdRelease } from './release-policy.js';

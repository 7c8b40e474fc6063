export { createClientRegistry, settingsInput, settingsProblem, type ClientInput, type ClientRegistry, type CreatedClient } from './client-registry.js';
export { clientSecrets, type ClientSecrets } from './client-secrets.js';
export { secretGrace, type SecretGrace } from './secret-grace.js';
export {
  clientSettings,
  clientSettingsFields,
  liveClientSettings,
  clientMetadata,
  settingsFromMetadata,
  settingsDiff,
  namesNoField,
  authMethodOf,
  EDITABLE_SETTINGS,
  CLIENT_CHANNELS,
  CLIENT_GRANT_TYPES,
  type AuthMethod,
  type ClientSettings,
  type ClientSettingsInput,
} from './client-settings.js';
export { clientStore, CLIENT_STATUSES, CHANGE_STATUSES, type ClientStore, type ClientRecord, type ClientChange, type ClientStatus, type ChangeStatus } from './client-store.js';
export { liveClients, type LiveClients } from './live-clients.js';
export { CLIENT_KINDS, KIND_DEFAULTS, JWT_BEARER_GRANT, CIBA_GRANT, kindOf, type ClientKind } from './client-kinds.js';
export { fapi2MetadataProblem, isFapi2, FAPI2_CODE_SECONDS, FAPI2_SIGNING_ALGS, SECURITY_PROFILES, type SecurityProfile } from './fapi2-profile.js';

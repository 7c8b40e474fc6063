export { ProviderHolder } from './provider-holder.js';
export { sessionAuthentications, type SessionAuthentications } from './session-authentications.js';
export { isFirstParty } from './grants.js';
export type { ProviderDeps } from './provider.js';
export { endpointMethods } from './endpoint-methods.js';

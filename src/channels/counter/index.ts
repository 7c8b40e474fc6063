import type Provider from 'oidc-provider';
import { TOKEN_EXCHANGE_GRANT } from './grant-type.js';
import { TOKEN_EXCHANGE_PARAMS, tokenExchangeGrant, type TokenExchangeDeps } from './token-exchange.js';

export { TOKEN_EXCHANGE_GRANT, CITIZEN_ID_TOKEN_TYPE, ACCESS_TOKEN_TYPE } from './grant-type.js';
export { counterStaffList, type CounterStaffCheck, type CounterStaffList } from './counter-staff.js';
export { DOCUMENT_CHECKED } from './token-exchange.js';
export { proofingConfirmRouter, type ProofingConfirmDeps } from './proofing-confirm.routes.js';
export { counterDeviceKeysRouter, type CounterDeviceKeysDeps } from './device-keys.routes.js';

/** The counter channel's token endpoint addition: assisted login through token exchange. */
export function registerCounterGrants(provider: Provider, deps: TokenExchangeDeps): void {
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, tokenExchangeGrant(deps), TOKEN_EXCHANGE_PARAMS);
}

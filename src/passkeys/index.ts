export { createPasskeys, passkeyAmr, type Passkeys, type PasskeysDeps, type PasskeyEnrolment, type PasskeySignIn } from './passkeys.js';
export { MAX_RESPONSE_LENGTH } from './responses.js';
export { passkeyScript } from './passkey-script.js';
export { hostCanHoldPasskeys } from './rp-id.js';

/**
 * How old a sign-in may be, in seconds, for what outlasts it: a passkey or a wallet credential made
 * on its strength. A browser left signed in, or a stolen cookie, must not be enough (the portal's
 * gates, portal/lasting-credential-gate.ts; the wallet's own sign-in, credentials/credential-request.ts).
 */
export const FRESH_SIGN_IN_SECONDS = 600;

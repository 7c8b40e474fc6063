import type { Account } from './accounts.js';

/**
 * The recovery hold: for `passwordReset.holdSeconds` after a password reset by SMS, nothing that
 * outlasts a sign-in can be added to the account (a passkey, an authenticator app, a device key, a
 * credential in a wallet). A reset needs only the phone, so whoever held it for a moment could
 * reset the password, sign in, and bind a way in of their own that survives the citizen resetting
 * it back. The hold leaves them the sessions a reset and sign-out everywhere end.
 *
 * Returns when the hold ends (epoch ms), or undefined when there is none.
 */
export function recoveryHoldUntil(account: Pick<Account, 'recoveredAt'>, holdSeconds: number, now = Date.now()): number | undefined {
  if (account.recoveredAt === undefined || holdSeconds <= 0) return undefined;
  const until = account.recoveredAt + holdSeconds * 1000;
  return until > now ? until : undefined;
}

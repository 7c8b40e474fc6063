import { ACR } from '../accounts/index.js';
import { hasSecondFactor } from '../mfa/index.js';
import { acrRank } from '../oidc/acr-policy.js';
import type { PortalDeps } from './deps.js';
import type { PortalSession } from './portal-sessions.js';
import type { SignedIn } from './portal-context.js';
import { recoveryHoldUntil } from '../accounts/recovery-hold.js';

/**
 * What stands between a signed-in citizen and a credential that outlasts the portal sign-in: a
 * passkey (loa:2 until removed), the identity credential or a certificate in a wallet (loa:2 until
 * it expires). Whoever gets one keeps it, so each needs more than a browser that is signed in:
 * - `sign_in_again`: the portal sign-in is not fresh (a browser left signed in, a stolen cookie);
 * - `sign_in_at_loa2`: the sign-in is below loa:2 where loa:2 is needed (a wallet credential; a
 *   passkey on an account that already has a second factor, else a password or an SMS code alone
 *   would bind another);
 * - `sign_in_with_password`: a passkey on an account without a second factor, after a sign-in that
 *   did not use the account's own password (an upstream's, amr `fed`, is not it): an SMS code is
 *   "something you have", as the SMS proof below is, and
 *   two of them are not two factors (as for a step-up in place, interactions/second-factor.ts);
 * - `prove_phone`: an SMS code to the account's mobile number first: for an account's first second
 *   factor, as for an authenticator app set up during a sign-in; and after a sign-in that was a
 *   phone's approval of a QR code (relayable to a phished citizen), whatever the account holds;
 * - `recovery_hold`: the password was reset by SMS lately (accounts/recovery-hold.ts), first of all:
 *   whoever held the phone for a moment must not keep a way in;
 * - `ready`.
 */
export type LastingCredentialGate = 'ready' | 'recovery_hold' | 'sign_in_again' | 'sign_in_at_loa2' | 'sign_in_with_password' | 'prove_phone';

/** The passkey's gate, and `no_host_name` first: the issuer is an IP address, where no browser makes a passkey. */
export type PasskeyGate = LastingCredentialGate | 'no_host_name';

/** The wallet's gate: it never asks for the password, since loa:2 already needs a second factor. */
export type WalletGate = Exclude<LastingCredentialGate, 'sign_in_with_password'>;

type GateDeps = Pick<PortalDeps, 'freshSignInSeconds' | 'recoveryHoldSeconds'>;

const held = (deps: GateDeps, s: SignedIn): boolean => recoveryHoldUntil(s.account, deps.recoveryHoldSeconds) !== undefined;

/** Whether the portal sign-in is recent enough for a lasting change (`freshSignInSeconds`). */
export const signInIsFresh = (deps: GateDeps, session: PortalSession): boolean => Date.now() / 1000 - session.authTime <= deps.freshSignInSeconds;

const phoneProven = (deps: GateDeps, session: PortalSession): boolean =>
  session.phoneProvenAt !== undefined && Date.now() / 1000 - session.phoneProvenAt <= deps.freshSignInSeconds;

/** A fresh loa:2 sign-in; after a phone's approval, the account's SMS code too. */
function loa2Gate(deps: GateDeps, s: SignedIn): WalletGate {
  if (acrRank(s.session.acr) < acrRank(ACR.twoFactor)) return 'sign_in_at_loa2';
  // A phone's approval of a QR code is loa:2, but the code can be relayed to a phished citizen:
  // alone it would hand the relayer a lasting credential. The account's SMS code too, then.
  if (s.session.approvedOnPhone) return !s.account.phone ? 'sign_in_at_loa2' : phoneProven(deps, s.session) ? 'ready' : 'prove_phone';
  return 'ready';
}

export async function passkeyGate(deps: GateDeps & Pick<PortalDeps, 'strongCredentials' | 'passkeys'>, s: SignedIn): Promise<PasskeyGate> {
  if (!deps.passkeys.available) return 'no_host_name';
  if (held(deps, s)) return 'recovery_hold';
  if (!signInIsFresh(deps, s.session)) return 'sign_in_again';
  if (hasSecondFactor(await deps.strongCredentials(s.account.id))) return loa2Gate(deps, s);
  // Portal sessions from before `amr` was kept have none: they sign in again. An upstream's `pwd`
  // (amr `fed`, passed on with trust_amr) is its own password: a passkey bound on its word would
  // outlast the upstream's trust (disabling it), so the account's own password is asked for.
  if (!s.session.amr?.includes('pwd') || s.session.amr.includes('fed')) return 'sign_in_with_password';
  return s.account.phone && !phoneProven(deps, s.session) ? 'prove_phone' : 'ready';
}

/** Before an offer of the identity credential or of a certificate to a wallet. */
export function walletGate(deps: GateDeps, s: SignedIn): WalletGate {
  if (held(deps, s)) return 'recovery_hold';
  if (!signInIsFresh(deps, s.session)) return 'sign_in_again';
  return loa2Gate(deps, s);
}

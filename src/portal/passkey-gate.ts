import { ACR } from '../accounts/index.js';
import { hasSecondFactor } from '../mfa/index.js';
import { acrRank } from '../oidc/acr-policy.js';
import type { PortalDeps } from './deps.js';
import type { SignedIn } from './portal-context.js';

/**
 * What stands between a signed-in citizen and adding a passkey (a loa:2 credential):
 * - `sign_in_again`: the portal sign-in is not fresh;
 * - `sign_in_at_loa2`: the account already has a second factor (TOTP, a passkey, the app's device
 *   key), so only a sign-in that used it may bind another one (else a password or an SMS code alone
 *   would);
 * - `prove_phone`: the account's first second factor: an SMS code to its mobile number first, as
 *   for an authenticator app set up during a sign-in; and after a sign-in that was a phone's
 *   approval of a QR code (relayable to a phished citizen), whatever the account holds;
 * - `no_host_name`: the issuer is an IP address, where no browser makes a passkey (first: no
 *   step the citizen could take would help);
 * - `ready`.
 */
export type PasskeyGate = 'ready' | 'sign_in_again' | 'sign_in_at_loa2' | 'prove_phone' | 'no_host_name';

export async function passkeyGate(deps: Pick<PortalDeps, 'freshSignInSeconds' | 'strongCredentials' | 'passkeys'>, s: SignedIn): Promise<PasskeyGate> {
  if (!deps.passkeys.available) return 'no_host_name';
  const now = Date.now() / 1000;
  if (now - s.session.authTime > deps.freshSignInSeconds) return 'sign_in_again';
  const strong = await deps.strongCredentials(s.account.id);
  const proven = s.session.phoneProvenAt !== undefined && now - s.session.phoneProvenAt <= deps.freshSignInSeconds;
  if (hasSecondFactor(strong)) {
    if (acrRank(s.session.acr) < acrRank(ACR.twoFactor)) return 'sign_in_at_loa2';
    // A phone's approval of a QR code is loa:2, but the code can be relayed to a phished citizen:
    // alone it would bind the relayer's passkey for good. The account's SMS code too, then.
    if (s.session.approvedOnPhone) return !s.account.phone ? 'sign_in_at_loa2' : proven ? 'ready' : 'prove_phone';
    return 'ready';
  }
  return s.account.phone && !proven ? 'prove_phone' : 'ready';
}

import { ACR, type Account, type Accounts } from '../accounts/index.js';
import type { CredentialStore } from './credential-store.js';
import { IDENTITY_VCT } from './identity-credential.js';
import type { PresentationRequests, Starter } from './presentation-requests.js';
import { statusListPath } from './status-lists.js';

/**
 * Yihao's own amr value (RFC 8176 has none for it): a verified presentation of a verifiable
 * credential, its key binding signed with the wallet key the credential was issued to.
 */
export const PRESENTATION_AMR = ['vc'];

/**
 * The level a presentation gives: possession of the wallet's device-bound key, as the mobile app's
 * device key gives (docs/channels/assurance.md). Not loa:3: no document is checked where it is shown.
 */
export const PRESENTATION_ACR = ACR.twoFactor;

export type SignInRefusal = 'unknown_request' | 'not_identity' | 'credential_invalid' | 'no_active_account';

export class PresentationSignInRefused extends Error {
  constructor(
    readonly reason: SignInRefusal,
    message: string,
  ) {
    super(message);
    this.name = 'PresentationSignInRefused';
  }
}

/**
 * Sign-in by presentation (docs/credentials.md): the account behind a verified presentation of the
 * identity credential. It is found from the credential itself, never from a disclosed claim: the
 * status entry names exactly one issued credential, whose record holds the account and the holder
 * key's thumbprint, which must be the key that signed the presentation's key binding. The citizen
 * need disclose nothing to sign in. Checked again at sign-in: the credential still valid (not
 * revoked since it was presented, not expired) and the account active. A request signs in once.
 */
export function presentationSignIn(deps: { issuer: string; requests: PresentationRequests; store: CredentialStore; accounts: Pick<Accounts, 'findById'> }) {
  const listPrefix = `${deps.issuer}${statusListPath('')}`;
  return async function signIn(requestId: string, startedBy: (starter: Starter) => boolean, now = Date.now()): Promise<Account> {
    const presented = await deps.requests.takeForSignIn(requestId, startedBy, now);
    if (!presented) throw new PresentationSignInRefused('unknown_request', 'the presentation request is unknown, not verified, started elsewhere, or used already');
    if (presented.vct !== IDENTITY_VCT) throw new PresentationSignInRefused('not_identity', 'only a presentation of the identity credential signs in');
    const record = presented.statusList.startsWith(listPrefix) ? await deps.store.findByStatusEntry(presented.statusList.slice(listPrefix.length), presented.statusIndex) : undefined;
    if (!record || record.type !== IDENTITY_VCT || record.holderJkt !== presented.holderJkt || record.status !== 'valid' || record.expiresAt <= now) {
      throw new PresentationSignInRefused('credential_invalid', 'the credential presented is no longer valid');
    }
    const account = await deps.accounts.findById(record.accountId);
    if (account?.status !== 'active') throw new PresentationSignInRefused('no_active_account', 'there is no active account for this credential');
    return account;
  };
}
export type PresentationSignIn = ReturnType<typeof presentationSignIn>;

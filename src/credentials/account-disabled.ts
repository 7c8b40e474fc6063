import type { Knex } from 'knex';
import type { Account } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import type { DisabledBy } from '../oidc/sign-out.js';
import type { CredentialOffers } from './credential-offers.js';
import type { CredentialStore } from './credential-store.js';
import { IDENTITY_VCT } from './identity-credential.js';


/**
 * What a disabled account takes with it (docs/credentials.md, "When an account is disabled"):
 * its pending credential offers die at once (before the account's change: an offer has nothing to
 * commit with it), and inside the transaction that disables the account, every identity credential
 * issued to it and every wallet copy of its department certificates turn "revoked" in their status
 * lists, audited as `vc.revoked_with_account` in that same transaction. The certificates themselves
 * stay as their departments pushed them: they are the departments' records, for them to revoke.
 * `reason`: `lost_phone` when a lost phone is revoked at a counter (its wallet is one of them, and
 * which one cannot be told).
 */
export function accountDisabledCredentials(deps: { offers: Pick<CredentialOffers, 'dropFor'>; store: Pick<CredentialStore, 'revokeAllOf'>; audit: AuditLog }) {
  return async (account: Pick<Account, 'id' | 'sub'>, by: DisabledBy, reason: 'account_disabled' | 'lost_phone' = 'account_disabled'): Promise<(trx: Knex.Transaction) => Promise<void>> => {
    const offers = await deps.offers.dropFor(account.sub);
    return async (trx) => {
      const revoked = await deps.store.revokeAllOf(account.id, Date.now(), trx);
      if (revoked.length === 0 && offers === 0) return;
      await deps.audit.append(
        {
          action: 'vc.revoked_with_account',
          actorType: by.actorType,
          actorId: by.actorId,
          accountId: account.sub,
          details: {
            reason,
            credential_ids: revoked.map((c) => c.id),
            certificate_copies: revoked.filter((c) => c.type !== IDENTITY_VCT).map((c) => c.id),
            offers,
          },
        },
        { trx },
      );
    };
  };
}
export type AccountDisabledCredentials = ReturnType<typeof accountDisabledCredentials>;

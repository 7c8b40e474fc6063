import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { YihaoError } from '../errors.js';
import type { AccountIndex, KeyLinkModel } from '../storage/account-index.js';
import type { Database } from '../storage/database.js';
import type { CredentialStore, IssuedCredential } from './credential-store.js';

/** Who revokes: an operator (by sub) or the server's own CLI. */
export type Revoker = ({ type: 'operator'; id: string } | { type: 'system'; id: 'cli' }) & { ip?: string | undefined; requestId?: string | undefined };

/** A citizen revoking a credential of their own account, from the portal. */
export interface CitizenRevoker {
  sub: string;
  ip?: string | undefined;
  requestId?: string | undefined;
}

/** The audit reasons of a key's removal, by the kind of key (src/oidc/sign-out.ts endKeyLogins). */
const KEY_REMOVED: Record<KeyLinkModel, string> = { DeviceKeyGrant: 'device_key_revoked', PasskeyGrant: 'passkey_removed', TotpGrant: 'totp_removed' };

const CREDENTIAL_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * Revocation: a credential's entry in its status list turns to "invalid", with its audit event in
 * the same transaction. The next fetch of the list shows it; verifiers that cached the list see it
 * within the list's `ttl` (its Cache-Control max-age).
 */
export function credentialRevocation(deps: {
  db: Database;
  store: CredentialStore;
  accounts: Pick<Accounts, 'findById'>;
  audit: AuditLog;
  accountIndex: Pick<AccountIndex, 'credentialsOfKey' | 'unlinkCredential'>;
}) {
  /** Revokes those of `ids` still valid or suspended, with one `vc.revoked` event naming the kind of key removed. */
  async function revokeWithKey(accountSub: string, ids: readonly string[], model: KeyLinkModel): Promise<number> {
    const at = Date.now();
    return deps.db.transaction(async (trx) => {
      const done: string[] = [];
      for (const id of ids) if (await deps.store.revoke(id, at, trx)) done.push(id);
      if (done.length > 0) {
        await deps.audit.append({ action: 'vc.revoked', actorType: 'system', accountId: accountSub, details: { credential_ids: done, reason: KEY_REMOVED[model] } }, { trx });
      }
      return done.length;
    });
  }

  return {
    /**
     * The citizen's own revocation of a credential issued to their account (the portal's wallet
     * page); `not_found` for another account's, an unknown or a malformed id, and for one that is
     * no longer valid or suspended (nothing is left to revoke).
     */
    async revokeOwn(accountId: string, id: string, by: CitizenRevoker): Promise<IssuedCredential> {
      const found = CREDENTIAL_ID.test(id) ? await deps.store.find(id) : undefined;
      if (!found || found.accountId !== accountId || found.status === 'revoked') throw new YihaoError('not_found', 'no such credential', 404);
      const at = Date.now();
      const revoked = await deps.db.transaction(async (trx) => {
        if (!(await deps.store.revoke(id, at, trx))) return false;
        await deps.audit.append(
          {
            action: 'vc.revoked',
            actorType: 'citizen',
            actorId: by.sub,
            accountId: by.sub,
            channel: 'web',
            ip: by.ip,
            requestId: by.requestId,
            clientId: found.clientId,
            details: { credential_id: id, type: found.type, status_list: found.statusListId, reason: 'revoked_by_citizen' },
          },
          { trx },
        );
        return true;
      });
      if (!revoked) throw new YihaoError('not_found', 'no such credential', 404);
      return { ...found, status: 'revoked', revokedAt: at };
    },

    /**
     * Revokes the credentials issued on logins a removed key made or approved (linked at issuance:
     * credential-request.ts), in one transaction with one `vc.revoked` event; how many it revoked.
     * Called once the key is removed (src/oidc/sign-out.ts endKeyLogins).
     */
    async revokeForKey(accountSub: string, key: { model: KeyLinkModel; id: string }): Promise<number> {
      const ids = await deps.accountIndex.credentialsOfKey(accountSub, key.model, key.id);
      if (ids.length === 0) return 0;
      const revoked = await revokeWithKey(accountSub, ids, key.model);
      await Promise.all(ids.map((id) => deps.accountIndex.unlinkCredential(key.model, key.id, id)));
      return revoked;
    },

    /** Revokes credentials just issued on a login whose key was removed meanwhile (credential-request.ts); how many. */
    revokeWithKey: (accountSub: string, ids: readonly string[], model: KeyLinkModel) => revokeWithKey(accountSub, ids, model),

    async revoke(id: string, by: Revoker, reason?: string): Promise<IssuedCredential> {
      if (!CREDENTIAL_ID.test(id)) throw new YihaoError('invalid_input', 'a credential id is 22 characters of base64url');
      if (reason !== undefined && (reason.length === 0 || reason.length > 200)) throw new YihaoError('invalid_input', 'a reason is 1 to 200 characters');
      const found = await deps.store.find(id);
      if (!found) throw new YihaoError('not_found', 'no such credential', 404);
      if (found.status === 'revoked') throw new YihaoError('invalid_input', 'the credential is already revoked', 409);
      // A department certificate's copy goes with its certificate, which its department's operators
      // suspend or revoke (tree-bound, every copy at once). Revoked here, one copy would go by an
      // installation-wide power and leave the certificate valid for the next copy.
      if (await deps.store.certificateOf(id)) {
        throw new YihaoError('invalid_input', "this credential is a copy of a department certificate: its department's operators revoke or suspend the certificate (POST /admin/api/v1/certificates/{id}/revoke), and every copy with it", 409);
      }
      const account = await deps.accounts.findById(found.accountId);
      const at = Date.now();
      const revoked = await deps.db.transaction(async (trx) => {
        if (!(await deps.store.revoke(id, at, trx))) return false;
        await deps.audit.append(
          {
            action: 'vc.revoked',
            actorType: by.type,
            actorId: by.id,
            accountId: account?.sub,
            ip: by.ip,
            requestId: by.requestId,
            clientId: found.clientId,
            details: { credential_id: id, type: found.type, status_list: found.statusListId, ...(reason ? { reason } : {}) },
          },
          { trx },
        );
        return true;
      });
      if (!revoked) throw new YihaoError('invalid_input', 'the credential is already revoked', 409);
      return { ...found, status: 'revoked', revokedAt: at };
    },
  };
}
export type CredentialRevocation = ReturnType<typeof credentialRevocation>;

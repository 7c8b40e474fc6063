import type { Accounts } from '../accounts/index.js';
import type { AuditLog } from '../audit/index.js';
import { YihaoError } from '../errors.js';
import type { Database } from '../storage/database.js';
import type { CredentialStore, IssuedCredential } from './credential-store.js';

/** Who revokes: an operator (by sub) or the server's own CLI. */
export type Revoker = ({ type: 'operator'; id: string } | { type: 'system'; id: 'cli' }) & { ip?: string | undefined; requestId?: string | undefined };

const CREDENTIAL_ID = /^[A-Za-z0-9_-]{22}$/;

/**
 * Revocation: a credential's entry in its status list turns to "invalid", with its audit event in
 * the same transaction. The next fetch of the list shows it; verifiers that cached the list see it
 * within the list's `ttl` (its Cache-Control max-age).
 */
export function credentialRevocation(deps: { db: Database; store: CredentialStore; accounts: Pick<Accounts, 'findById'>; audit: AuditLog }) {
  return {
    async revoke(id: string, by: Revoker, reason?: string): Promise<IssuedCredential> {
      if (!CREDENTIAL_ID.test(id)) throw new YihaoError('invalid_input', 'a credential id is 22 characters of base64url');
      if (reason !== undefined && (reason.length === 0 || reason.length > 200)) throw new YihaoError('invalid_input', 'a reason is 1 to 200 characters');
      const found = await deps.store.find(id);
      if (!found) throw new YihaoError('not_found', 'no such credential', 404);
      if (found.status === 'revoked') throw new YihaoError('invalid_input', 'the credential is already revoked', 409);
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

import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';

export interface CredentialSummary {
  id: string;
  type: string;
  createdAt: number;
  lastUsedAt: number | undefined;
}

/** The password is the one credential every account keeps. */
export const isRemovable = (type: string): boolean => type !== 'password';

/**
 * SQL over the `credentials` table for the portal: what a citizen may see of their credentials
 * (never the secret column) and removal, always scoped to the owning account in the query itself.
 */
export function credentialStore(db: Database) {
  return {
    async list(accountId: string): Promise<CredentialSummary[]> {
      const rows = (await db('credentials')
        .select('id', 'type', 'created_at', 'last_used_at')
        .where({ account_id: accountId })
        .orderBy([{ column: 'created_at', order: 'asc' }, { column: 'id', order: 'asc' }])) as { id: string; type: string; created_at: number; last_used_at: number | null }[];
      return rows.map((r) => ({ id: r.id, type: r.type, createdAt: Number(r.created_at), lastUsedAt: r.last_used_at === null ? undefined : Number(r.last_used_at) }));
    },

    /**
     * Removes one removable credential of this account; returns its type, or undefined if there is
     * none such. `record` writes the removal's audit event in its transaction: the credential goes
     * with its record, or stays.
     */
    async remove(accountId: string, credentialId: string, record?: (type: string, trx: Knex.Transaction) => Promise<void>): Promise<string | undefined> {
      return db.transaction(async (trx) => {
        const row = (await trx('credentials').select('type').where({ id: credentialId, account_id: accountId }).first()) as { type: string } | undefined;
        if (!row || !isRemovable(row.type)) return undefined;
        // The row's own delete decides: of two removals at once, the second deletes nothing and records nothing.
        if ((await trx('credentials').where({ id: credentialId, account_id: accountId }).delete()) === 0) return undefined;
        // Recovery codes stand in for the TOTP credential: they go with it.
        if (row.type === 'totp') await trx('recovery_codes').where({ account_id: accountId }).delete();
        await record?.(row.type, trx);
        return row.type;
      });
    },
  };
}
export type CredentialStore = ReturnType<typeof credentialStore>;

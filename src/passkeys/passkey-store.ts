import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';

export interface PasskeyRow {
  credential_id: string;
  account_id: string;
  webauthn_id: string;
  public_key: string;
  sign_count: number;
  transports: string | null;
  device_type: 'singleDevice' | 'multiDevice';
  backed_up: boolean | number;
  aaguid: string;
}

/** SQL for passkeys (each with its `credentials` row); no business rules here. */
export function passkeyStore(db: Database) {
  return {
    /** `record` writes the addition's audit event in its transaction: the passkey is stored with its record, or not at all. */
    async insert(row: PasskeyRow, createdAt: number, record?: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
      await db.transaction(async (trx) => {
        await trx('credentials').insert({ id: row.credential_id, account_id: row.account_id, type: 'passkey', secret: '', created_at: createdAt, last_used_at: null });
        await trx('passkeys').insert(row);
        await record?.(trx);
      });
    },

    byWebauthnId: (webauthnId: string) => db<PasskeyRow>('passkeys').where({ webauthn_id: webauthnId }).first(),

    forAccount: (accountId: string) => db<PasskeyRow>('passkeys').where({ account_id: accountId }).select('webauthn_id', 'transports'),

    /**
     * Compare-and-set on the signature counter, so one assertion cannot be accepted twice and a
     * cloned authenticator (whose counter lags) is noticed across instances. Authenticators that
     * keep no counter report 0 every time; for them only `last_used_at` moves.
     */
    async recordUse(credentialId: string, previous: number, next: number, at: number): Promise<boolean> {
      const counterless = previous === 0 && next === 0;
      const updated = await db('passkeys')
        .where({ credential_id: credentialId, sign_count: previous })
        .update({ sign_count: counterless ? 0 : next });
      if (updated === 0) return false;
      await db('credentials').where({ id: credentialId }).update({ last_used_at: at });
      return true;
    },
  };
}
export type PasskeyStore = ReturnType<typeof passkeyStore>;

import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import type { CredentialRow } from '../accounts/account-store.js';

export interface TotpCredentialRow extends CredentialRow {
  type: 'totp';
  /** The last accepted time step. */
  counter: number | null;
}

/** Which loa:2 credentials an account holds. */
export interface StrongCredentials {
  totp: boolean;
  passkey: boolean;
  /** A key of the government app (mobile channel) that is not revoked. */
  deviceKey: boolean;
}

/** SQL for TOTP credentials and recovery codes; no business rules here. */
export function mfaStore(db: Database) {
  return {
    totpCredential: (accountId: string) =>
      db<TotpCredentialRow>('credentials').where({ account_id: accountId, type: 'totp' }).orderBy('created_at', 'desc').first(),

    /** One TOTP credential per account: a new enrolment replaces the old one and its recovery codes. */
    /** `record` writes the binding's audit event in its transaction: the app is bound with its record, or not at all. */
    async replaceTotp(credential: TotpCredentialRow, recoveryCodeHashes: string[], record?: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
      await db.transaction(async (trx) => {
        await trx('credentials').where({ account_id: credential.account_id, type: 'totp' }).delete();
        await trx('recovery_codes').where({ account_id: credential.account_id }).delete();
        await trx('credentials').insert(credential);
        if (recoveryCodeHashes.length) {
          await trx('recovery_codes').insert(
            recoveryCodeHashes.map((code_hash) => ({ account_id: credential.account_id, code_hash, created_at: credential.created_at, used_at: null })),
          );
        }
        await record?.(trx);
      });
    },

    /** Compare-and-set: moves the counter forward to `step`; false if it is already there or beyond. */
    async advanceCounter(credentialId: string, step: number, at: number): Promise<boolean> {
      const updated = await db('credentials')
        .where({ id: credentialId })
        .andWhere((q) => q.whereNull('counter').orWhere('counter', '<', step))
        .update({ counter: step, last_used_at: at });
      return updated > 0;
    },

    /** Marks an unused code used; false if there is no such unused code (one winner under races). */
    /** Spends the unused code stored under any of `codeHashes` (one per key version). */
    async useRecoveryCode(accountId: string, codeHashes: readonly string[], at: number): Promise<boolean> {
      const updated = await db('recovery_codes').where({ account_id: accountId }).whereIn('code_hash', codeHashes).whereNull('used_at').update({ used_at: at });
      return updated > 0;
    },

    /**
     * Whether the account holds a credential of each kind that reaches loa:2: TOTP and passkeys in
     * `credentials`, the government app's device keys (not revoked) in `device_keys`.
     */
    async strongCredentials(accountId: string): Promise<StrongCredentials> {
      // One round trip: `union` keeps each kind once.
      const rows = (await db('credentials')
        .select('type')
        .where({ account_id: accountId })
        .whereIn('type', ['totp', 'passkey'])
        .union((q) => q.select(db.raw("'device_key' as type")).from('device_keys').where({ account_id: accountId }).whereNull('revoked_at'))) as { type: string }[];
      const types = new Set(rows.map((r) => r.type));
      return { totp: types.has('totp'), passkey: types.has('passkey'), deviceKey: types.has('device_key') };
    },

    async unusedRecoveryCodes(accountId: string): Promise<number> {
      const row = await db('recovery_codes').where({ account_id: accountId }).whereNull('used_at').count<{ n: number | string }[]>({ n: '*' }).first();
      return Number(row?.n ?? 0);
    },
  };
}
export type MfaStore = ReturnType<typeof mfaStore>;

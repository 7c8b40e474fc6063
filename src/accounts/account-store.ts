import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import { statements } from '../storage/statements.js';
import { writeBatch } from '../storage/write-batch.js';

export type AccountStatus = 'active' | 'locked' | 'disabled';
/** How the citizen ID binding was proven. */
/** `federated`: asserted by an upstream identity provider (which one: `federated_identities`). */
export type IdentityAssurance = 'self_asserted' | 'registry' | 'id_chip' | 'in_person' | 'federated';

export interface AccountRow {
  id: string;
  sub: string;
  status: AccountStatus;
  citizen_index: string;
  citizen_sealed: string;
  name: string;
  phone: string | null;
  assurance: IdentityAssurance;
  assurance_at: number | null;
  /** Epoch seconds: logins before it are not honoured (signed out everywhere then). Absent on rows written before the column. */
  not_before?: number | string | null;
  /** Epoch ms: the password's last reset by SMS (recovery-hold.ts). Absent on rows written before the column. */
  recovered_at?: number | string | null;
  created_at: number;
  updated_at: number;
}

export interface CredentialRow {
  id: string;
  account_id: string;
  type: 'password' | 'totp' | 'passkey' | 'device' | 'phone';
  secret: string;
  created_at: number;
  last_used_at: number | null;
}

/**
 * Every column of `accounts`, for the hot statements that read whole rows: named rather than `*`, so
 * that their prepared plans (storage/pg-leases.ts) keep their result type when a migration adds a
 * column. test/integration/account-columns.test.ts holds this list to the migrated table.
 */
export const ACCOUNT_COLUMNS = [
  'id',
  'sub',
  'status',
  'citizen_index',
  'citizen_sealed',
  'name',
  'phone',
  'assurance',
  'assurance_at',
  'not_before',
  'recovered_at',
  'created_at',
  'updated_at',
] as const satisfies readonly (keyof AccountRow)[];
// A field of AccountRow missing from the list fails to compile here.
const everyAccountColumn: Record<Exclude<keyof AccountRow, (typeof ACCOUNT_COLUMNS)[number]>, never> = {};
void everyAccountColumn;
/** `a.id, a.sub, ...` for the table under `alias`. */
export const accountColumns = (alias: string): string => ACCOUNT_COLUMNS.map((c) => `${alias}.${c}`).join(', ');

/** An account row with its newest password credential (id and hash), if it has one. */
export type AccountWithPassword = AccountRow & { password_id: string | null; password_secret: string | null };

// The sign-in's lookup: the account and its password hash in one round trip.
const withPassword = (where: string) =>
  `select ${accountColumns('a')}, c.id as password_id, c.secret as password_secret from accounts a left join credentials c on c.id = ` +
  `(select id from credentials where account_id = a.id and type = 'password' order by created_at desc limit 1) where ${where} limit 1`;
// During a re-index a citizen's row has its index in one of two versions: asked for both at once.
const BY_CITIZEN_INDEX_WITH_PASSWORD = [withPassword('a.citizen_index = ?'), withPassword('a.citizen_index in (?, ?)')] as const;
const BY_PHONE_WITH_PASSWORD = withPassword('a.phone = ?');
const BY_SUB = `select ${accountColumns('a')} from accounts a where a.sub = ?`;

/** SQL for accounts and credentials; no business rules here. */
export function accountStore(db: Database) {
  const sql = statements(db);
  const writes = writeBatch(db);
  return {
    /** `citizenIndexes`: the current index, and during a re-index the older one too (`CitizenIdVault.lookupIndexes`). */
    byCitizenIndexWithPassword: (citizenIndexes: readonly string[]) =>
      sql.first<AccountWithPassword>(BY_CITIZEN_INDEX_WITH_PASSWORD[citizenIndexes.length > 1 ? 1 : 0], citizenIndexes.slice(0, 2)),
    byPhoneWithPassword: (phone: string) => sql.first<AccountWithPassword>(BY_PHONE_WITH_PASSWORD, [phone]),
    /** `alongside` writes in the same transaction (the creation's audit event). */
    async insertWithCredential(account: AccountRow, credential: CredentialRow, alongside?: (trx: Knex.Transaction) => Promise<void>): Promise<void> {
      await db.transaction(async (trx) => {
        await trx('accounts').insert(account);
        await trx('credentials').insert(credential);
        await alongside?.(trx);
      });
    },
    async insertCredential(credential: CredentialRow, trx: Knex | Knex.Transaction = db): Promise<void> {
      await trx('credentials').insert(credential);
    },
    byId: (id: string) => db<AccountRow>('accounts').where({ id }).first(),
    bySub: (sub: string) => sql.first<AccountRow>(BY_SUB, [sub]),
    byCitizenIndex: (citizenIndexes: readonly string[]) => db<AccountRow>('accounts').whereIn('citizen_index', citizenIndexes).first(),
    byPhone: (phone: string) => db<AccountRow>('accounts').where({ phone }).first(),
    credential: (account_id: string, type: CredentialRow['type']) =>
      db<CredentialRow>('credentials').where({ account_id, type }).orderBy('created_at', 'desc').first(),
    /** With `trx`, the change commits with the rest of that transaction (its audit event). */
    /** How many rows changed: 0 when `from` is given and the account's status is not one of them. */
    async setStatus(id: string, status: AccountStatus, at: number, trx?: Knex.Transaction, from?: readonly AccountStatus[]): Promise<number> {
      const q = (trx ?? db)('accounts').where({ id });
      if (from) q.whereIn('status', [...from]);
      return q.update({ status, updated_at: at });
    },
    async setNotBefore(id: string, seconds: number, trx?: Knex.Transaction): Promise<void> {
      await (trx ?? db)('accounts').where({ id }).update({ not_before: seconds });
    },
    /** How many rows changed: 0 when `from` is given and the account's assurance is not one of them. */
    async setAssurance(id: string, assurance: IdentityAssurance, at: number, from?: readonly IdentityAssurance[], trx?: Knex.Transaction): Promise<number> {
      const q = (trx ?? db)('accounts').where({ id });
      if (from) q.whereIn('assurance', [...from]);
      return q.update({ assurance, assurance_at: at, updated_at: at });
    },
    /** Replaces the secret of the account's credentials of one type (the password: one row). */
    async replaceSecret(account_id: string, type: CredentialRow['type'], secret: string, at: number, trx: Knex | Knex.Transaction = db): Promise<number> {
      return trx('credentials').where({ account_id, type }).update({ secret, created_at: at, last_used_at: null });
    },
    /** Marks the account recovered at `at` (a password reset by SMS), in the transaction that replaced the password. */
    async markRecovered(id: string, at: number, trx: Knex.Transaction): Promise<void> {
      await trx('accounts').where({ id }).update({ recovered_at: at, updated_at: at });
    },
    /** Goes out with the request's other pending writes (the sign-in's audit event): one round trip. */
    async touchCredential(id: string, at: number): Promise<void> {
      await writes.defer(`credentials:${id}:last_used_at`, 'update credentials set last_used_at = ? where id = ?', [at, id]);
    },
  };
}
export type AccountStore = ReturnType<typeof accountStore>;

/** Unique-constraint violations look different on each driver; this names the column when it can. */
export function uniqueViolation(e: unknown): string | undefined {
  const err = e as { code?: string; constraint?: string; message?: string };
  if (err?.code === '23505') return err.constraint ?? 'unknown';
  if (err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return err.message ?? 'unknown';
  return undefined;
}

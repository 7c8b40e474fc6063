import type { Database } from '../../storage/database.js';

/**
 * Whether an account (internal id) may act as counter staff at this counter client (client_id):
 * the counter-staff role in the department that owns the client or above it. Built by the admin
 * slice (`counterStaffAt`), which knows departments; the counter grant only asks.
 */
export type CounterStaffCheck = (accountId: string, clientId: string) => Promise<boolean>;

/**
 * Who may attest an in-person document check at a counter. For now a plain list (`counter_staff`);
 * everything else asks only `isCounterStaff(accountId)`, so the admin work's department-scoped
 * `counter-staff` role can take its place without touching the grant.
 */
export function counterStaffList(db: Database) {
  return {
    /** `accountId` is the internal account id (not the public `sub`). */
    async isCounterStaff(accountId: string): Promise<boolean> {
      return (await db('counter_staff').where({ account_id: accountId }).first()) !== undefined;
    },
    async add(accountId: string, addedBy?: string): Promise<void> {
      await db('counter_staff').insert({ account_id: accountId, added_by: addedBy ?? null, added_at: Date.now() }).onConflict('account_id').ignore();
    },
    async remove(accountId: string): Promise<void> {
      await db('counter_staff').where({ account_id: accountId }).delete();
    },
  };
}
export type CounterStaffList = ReturnType<typeof counterStaffList>;

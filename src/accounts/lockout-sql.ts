import type { Knex } from 'knex';
import type { Database } from '../storage/database.js';
import type { LockoutPolicy, LockoutStore } from './lockout.js';

interface LockoutRow {
  account_id: string;
  attempts: number;
  window_ends_at: number;
  locked_until: number | null;
}

const TABLE = 'login_lockouts';

/**
 * The SQL lockout store (no Redis configured). Every step is a single statement, so it is atomic on
 * PostgreSQL (row locks, re-checked WHERE) and on SQLite (one writer) without a transaction.
 * A row exists only for an account with recent attempts or a lock; a success deletes it.
 */
export function sqlLockoutStore(db: Database, policy: LockoutPolicy): LockoutStore {
  const windowMs = policy.windowSeconds * 1000;
  const lockMs = policy.lockSeconds * 1000;
  const notLocked = (now: number) => (q: Knex.QueryBuilder) => q.whereNull('locked_until').orWhere('locked_until', '<=', now);

  async function lockedUntil(accountId: string, now: number): Promise<number | undefined> {
    const row = await db<LockoutRow>(TABLE).where({ account_id: accountId }).first('locked_until');
    return row?.locked_until != null && row.locked_until > now ? Number(row.locked_until) : undefined;
  }

  return {
    async begin(accountId, now) {
      // Locked: nothing changes. Window over (or a lock just ended): a fresh window. Else count one more.
      const [row] = (await db(TABLE)
        .insert({ account_id: accountId, attempts: 1, window_ends_at: now + windowMs, locked_until: null })
        .onConflict('account_id')
        .merge({
          attempts: db.raw(
            `CASE WHEN ${TABLE}.locked_until > ? THEN ${TABLE}.attempts WHEN ${TABLE}.window_ends_at <= ? THEN 1 ELSE ${TABLE}.attempts + 1 END`,
            [now, now],
          ),
          window_ends_at: db.raw(
            `CASE WHEN ${TABLE}.locked_until > ? THEN ${TABLE}.window_ends_at WHEN ${TABLE}.window_ends_at <= ? THEN ? ELSE ${TABLE}.window_ends_at END`,
            [now, now, now + windowMs],
          ),
        })
        .returning(['attempts', 'window_ends_at', 'locked_until'])) as LockoutRow[];
      if (!row) throw new Error('lockout upsert returned no row');
      if (row.locked_until != null && Number(row.locked_until) > now) return { lockedUntil: Number(row.locked_until) };
      return { attempts: Number(row.attempts), windowEndsAt: Number(row.window_ends_at) };
    },

    async lockIfSpent(accountId, now) {
      const until = now + lockMs;
      const updated = await db(TABLE)
        .where({ account_id: accountId })
        .andWhere('attempts', '>=', policy.maxFailures)
        .andWhere('window_ends_at', '>', now)
        .andWhere(notLocked(now))
        // The window closes with the lock, so the count starts over when the lock ends.
        .update({ locked_until: until, attempts: 0, window_ends_at: now });
      if (updated > 0) return { lockedUntil: until, lockedNow: true };
      const current = await lockedUntil(accountId, now);
      return current === undefined ? undefined : { lockedUntil: current, lockedNow: false };
    },

    async clearAttempts(accountId, now) {
      const deleted = await db(TABLE).where({ account_id: accountId }).andWhere(notLocked(now)).delete();
      if (deleted === 0) await db(TABLE).where({ account_id: accountId }).update({ attempts: 0 });
    },

    lockedUntil,

    async clear(accountId) {
      await db(TABLE).where({ account_id: accountId }).delete();
    },
  };
}

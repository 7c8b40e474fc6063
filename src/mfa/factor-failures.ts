import type { Database } from '../storage/database.js';
import type { LockoutPolicy, LockState } from '../accounts/index.js';

const TABLE = 'second_factor_failures';

/**
 * Consecutive failed second-factor checks per account, on the lockout policy's numbers.
 *
 * Every second-factor check also counts against the account's shared lockout (which bounds bursts
 * of parallel guesses, and whose lock refuses passwords too). But a correct password clears that
 * count, and an attacker who knows the password could re-enter it between code guesses for ever.
 * This streak is cleared only by a correct second factor: `maxFailures` wrong codes in a window,
 * however interleaved with passwords, lock the second factor for `lockSeconds`.
 */
export function factorFailures(db: Database, policy: LockoutPolicy) {
  const windowMs = policy.windowSeconds * 1000;
  const lockMs = policy.lockSeconds * 1000;
  const locked = (until: number, lockedNow: boolean): Extract<LockState, { locked: true }> => ({ locked: true, until: new Date(until), lockedNow });

  return {
    async state(accountId: string, now = Date.now()): Promise<LockState> {
      const row = await db(TABLE).where({ account_id: accountId }).first<{ failures: number; last_failure_at: number | string } | undefined>();
      if (!row || row.failures < policy.maxFailures) return { locked: false };
      const until = Number(row.last_failure_at) + lockMs;
      return until > now ? locked(until, false) : { locked: false };
    },

    /**
     * Counts an attempt as a failure before its code is checked (a correct one clears the streak),
     * in one atomic statement: parallel guesses, from however many addresses, get `maxFailures`
     * checks in all, as guesses one after another would. `refused`: over the limit, check nothing.
     */
    async begin(accountId: string, now = Date.now()): Promise<{ refused: Extract<LockState, { locked: true }> } | { ifFailed: LockState }> {
      const failures = await this.recordFailure(accountId, now);
      if (failures > policy.maxFailures) return { refused: locked(now + lockMs, false) };
      return { ifFailed: failures === policy.maxFailures ? locked(now + lockMs, true) : { locked: false } };
    },

    /** Counts one failure (a fresh streak once the window or a served lock is over); one atomic statement. The count now. */
    async recordFailure(accountId: string, now = Date.now()): Promise<number> {
      // Fresh when the window is over, or when a lock has been served in full.
      const fresh = `${TABLE}.last_failure_at <= ? OR (${TABLE}.failures >= ? AND ${TABLE}.last_failure_at <= ?)`;
      const [row] = (await db(TABLE)
        .insert({ account_id: accountId, failures: 1, last_failure_at: now })
        .onConflict('account_id')
        .merge({
          failures: db.raw(`CASE WHEN ${fresh} THEN 1 ELSE ${TABLE}.failures + 1 END`, [now - windowMs, policy.maxFailures, now - lockMs]),
          last_failure_at: now,
        })
        .returning(['failures'])) as { failures: number }[];
      return Number(row?.failures ?? 1);
    },

    async clear(accountId: string): Promise<void> {
      await db(TABLE).where({ account_id: accountId }).delete();
    },
  };
}
export type FactorFailures = ReturnType<typeof factorFailures>;

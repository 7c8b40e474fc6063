import type { Database } from '../storage/database.js';
import type { RedisClient } from '../storage/redis.js';
import { redisLockoutStore } from './lockout-redis.js';
import { sqlLockoutStore } from './lockout-sql.js';

/** From config `lockout`. */
export interface LockoutPolicy {
  /** Failed attempts within one window that lock the account. */
  maxFailures: number;
  /** The window starts with the first counted attempt and is fixed (not sliding). */
  windowSeconds: number;
  /** How long a lock lasts; an operator can lift it sooner with `unlock`. */
  lockSeconds: number;
}

/** `until`: when an attempt may start again. `lockedNow`: this very call set the lock (audit it once). */
export type LockState = { locked: false } | { locked: true; until: Date; lockedNow: boolean };

/**
 * Atomic per-account counters. Each method is one atomic step on the shared store (a Lua script
 * in Redis, one SQL statement), so concurrent requests on any number of instances see one count.
 * Times are epoch milliseconds.
 */
export interface LockoutStore {
  /** Unless locked: counts one attempt (opening a fresh window when the last one is over). */
  begin(accountId: string, now: number): Promise<{ lockedUntil: number } | { attempts: number; windowEndsAt: number }>;
  /** Locks the account if this window's count has reached `maxFailures`; reports any lock in force. */
  lockIfSpent(accountId: string, now: number): Promise<{ lockedUntil: number; lockedNow: boolean } | undefined>;
  /** Forgets the counted attempts; a lock in force stays. */
  clearAttempts(accountId: string, now: number): Promise<void>;
  lockedUntil(accountId: string, now: number): Promise<number | undefined>;
  /** Forgets everything: the lock and the count. */
  clear(accountId: string): Promise<void>;
}

/**
 * Lockout after repeated failures, per account: every login method (password, SMS code, TOTP, ...)
 * and every instance sharing the store count against the same budget.
 *
 * Use it around each credential check:
 * ```ts
 * const gate = await lockout.beginAttempt(account.id);   // before the check, never after
 * if (gate.locked) return refuse(gate.until);            // the credential is not even looked at
 * if (!(await check())) return (await lockout.recordFailure(account.id)).locked ? locked : invalid;
 * await lockout.recordSuccess(account.id);
 * ```
 * An attempt counts from the moment it starts, and a success clears the count. So concurrent
 * guesses cannot overtake the lock: a burst of 1,000 parallel guesses gets `maxFailures` credential
 * checks, not 1,000 (checking a lock first and counting failures afterwards would let every guess
 * already in flight through). An attempt that never finishes (a crash) counts as a failure until
 * its window ends: the budget fails closed.
 *
 * The failure that brings the count to `maxFailures` locks the account for `lockSeconds`. While
 * the count is spent but no lock is set (guesses still in flight), new attempts are refused until
 * the window ends or a lock or success settles it. Attempts refused during a lock are not counted
 * and do not extend it, so the lock always ends on time. When the lock ends, the count starts over.
 */
export interface Lockout {
  readonly policy: LockoutPolicy;
  isLocked(accountId: string): Promise<LockState>;
  beginAttempt(accountId: string): Promise<LockState>;
  recordFailure(accountId: string): Promise<LockState>;
  recordSuccess(accountId: string): Promise<void>;
  /** For operators: lifts a lock at once and forgets the count. */
  unlock(accountId: string): Promise<void>;
}

export function lockoutService(store: LockoutStore, policy: LockoutPolicy): Lockout {
  const locked = (until: number, lockedNow = false): LockState => ({ locked: true, until: new Date(until), lockedNow });
  return {
    policy,
    async isLocked(accountId) {
      const until = await store.lockedUntil(accountId, Date.now());
      return until === undefined ? { locked: false } : locked(until);
    },
    async beginAttempt(accountId) {
      const r = await store.begin(accountId, Date.now());
      if ('lockedUntil' in r) return locked(r.lockedUntil);
      // Over budget with no lock yet: earlier attempts are still in flight. Wait for the window.
      return r.attempts > policy.maxFailures ? locked(r.windowEndsAt) : { locked: false };
    },
    async recordFailure(accountId) {
      const r = await store.lockIfSpent(accountId, Date.now());
      return r ? locked(r.lockedUntil, r.lockedNow) : { locked: false };
    },
    recordSuccess: (accountId) => store.clearAttempts(accountId, Date.now()),
    unlock: (accountId) => store.clear(accountId),
  };
}

/** Redis when it is configured (shared by every instance), else the SQL store. */
export function createLockout(opts: { db: Database; redis?: RedisClient | undefined; redisPrefix: string; policy: LockoutPolicy }): Lockout {
  const store = opts.redis ? redisLockoutStore(opts.redis, opts.redisPrefix, opts.policy) : sqlLockoutStore(opts.db, opts.policy);
  return lockoutService(store, opts.policy);
}

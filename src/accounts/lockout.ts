import type { Database } from '../storage/database.js';
import type { RedisClient } from '../storage/redis.js';
import { redisLockoutStore } from './lockout-redis.js';
import { sqlLockoutStore } from './lockout-sql.js';
import { ipBucket, ipSite } from '../http/ip-bucket.js';

/** From config `lockout`: guesses from one client address at one account (or unknown identifier). */
export interface LockoutPolicy {
  /** Failed attempts from one address that are answered at once; each one after waits, doubling from 1 s. */
  maxFailures: number;
  /** An address's failures are forgotten this long after its last one. */
  windowSeconds: number;
  /** The longest wait between two attempts from one address; also how long a second-factor lock lasts. */
  lockSeconds: number;
}

/** From config `distributedLockout`: guesses at one account from every address together. */
export interface DistributedLockoutPolicy {
  /** Failures within one window, from all addresses, that lock the account to unfamiliar addresses. */
  maxFailures: number;
  /** Fixed (not sliding): starts with the first counted failure; the lock ends with it. */
  windowSeconds: number;
  /** How long an address where the account signed in stays familiar (exempt from the distributed lock). */
  familiarSeconds: number;
}

/**
 * `locked`: refused, not counted, the credential not even looked at; `until` is when to try again.
 * `lockedNow`: this attempt began the distributed lock (audit it once).
 * Admitted (`locked: false`): `ifFailed` says what the answer is should this attempt fail.
 */
export type LockState = { locked: false } | { locked: true; until: Date; lockedNow: boolean };
export type Gate = { locked: true; until: Date; lockedNow: false } | { locked: false; ifFailed: LockState };

/**
 * Atomic counters per subject (an account id, or a keyed hash of an identifier that names no
 * account): one per (subject, address) with its wait, one per subject for the distributed lock.
 * Each method is one atomic step on the shared store. Times are epoch milliseconds.
 */
export interface LockoutStore {
  /**
   * Refuses (`refusedUntil`) while the address must wait, or while the subject is locked and the
   * address is not familiar. Otherwise counts the attempt as a failure from the start (a success
   * takes it back), sets the address's next wait, and reports `nextAt` (0: none) and whether the
   * count just reached the distributed limit.
   */
  begin(subject: string, ip: string, now: number): Promise<{ refusedUntil: number } | { nextAt: number; lockedNow: boolean; lockedUntil: number }>;
  /** Forgets the address's failures, takes back the subject-wide count, and makes the address familiar. */
  succeed(subject: string, ip: string, now: number): Promise<void>;
  /** The distributed lock in force (as unfamiliar addresses see it). */
  lockedUntil(subject: string, now: number): Promise<number | undefined>;
  /**
   * Takes back one attempt `begin` counted from the address (and at the subject), for an attempt
   * that went no further; its wait ends if the count falls below `maxFailures`.
   */
  giveBack(subject: string, ip: string, now: number): Promise<void>;
  /** Whether the subject signed in from the address within `familiarSeconds`. A read, nothing counted. */
  familiar(subject: string, ip: string, now: number): Promise<boolean>;
  /** Makes the address familiar (a sign-in that guessed nothing: passkey, upstream), leaving every count alone. */
  familiarize(subject: string, ip: string, now: number): Promise<void>;
  /** Forgets every count of the subject (familiar addresses stay familiar). */
  clear(subject: string): Promise<void>;
}

/**
 * The site rule: failures at one subject from one IPv6 /48 (`ipSite`), however many of its /64s
 * they come from, are answered at once up to this many times the per-address `maxFailures`, then
 * wait, doubling, as an address does. One machine holds many /64s (a household's /56 has 256, a
 * tunnel broker hands out /48s with 65,536): each got its own `maxFailures`, so together they
 * guessed thousands of times and set off the distributed lock alone. A /48 now adds at most about
 * three dozen failures an hour to the distributed count. Kept in the same store, under the
 * subject's site pseudo-subject (`<subject>|site`), whose own distributed lock never closes.
 */
export const SITE_FACTOR = 4;
export const sitePolicyOf = (policy: LockoutPolicy): LockoutPolicy => ({ ...policy, maxFailures: policy.maxFailures * SITE_FACTOR });
export const SITE_DISTRIBUTED: DistributedLockoutPolicy = { maxFailures: Number.MAX_SAFE_INTEGER, windowSeconds: 3600, familiarSeconds: 1 };
const siteSubject = (subject: string) => `${subject}|site`;

/** The wait after the n-th failure from one address: none below maxFailures, then 1 s, 2 s, 4 s, ... up to lockSeconds. */
export function waitAfter(policy: LockoutPolicy, failures: number): number {
  if (failures < policy.maxFailures) return 0;
  return Math.min(1000 * 2 ** Math.min(failures - policy.maxFailures, 30), policy.lockSeconds * 1000);
}

/**
 * Slows guessing of passwords and one-time codes without handing strangers a way to lock citizens
 * out (issue 11). Three rules, every login method and instance sharing the same counts:
 * - per (subject, client address; an IPv6 /64 is one address, http/ip-bucket.ts): `maxFailures` guesses are answered at once, then each waits
 *   twice as long as the one before (up to `lockSeconds`). One stranger cannot stop the citizen,
 *   who is elsewhere; a guesser gets about a hundred guesses a day.
 * - per subject, from all addresses: `distributedLockout.maxFailures` failures in a window lock
 *   the subject to every address it has not signed in from lately. A citizen at home still gets in.
 * - only guessable secrets count: passkeys, device keys and the kiosk's ID card never consult this.
 * An identifier that names no account gets exactly the same counting under its own keyed subject,
 * so the answers (status, text, wait) never tell whether an account exists.
 *
 * ```ts
 * const gate = await lockout.beginAttempt(subject, ip);  // before the check, never after
 * if (gate.locked) return refuse(gate.until);
 * if (!(await check())) return gate.ifFailed.locked ? wait(gate.ifFailed.until) : invalid;
 * await lockout.recordSuccess(subject, ip);
 * ```
 * An attempt counts from the moment it starts, so a burst of parallel guesses gets `maxFailures`
 * checks, not all of them; an attempt that never finishes counts as a failure (fails closed). One
 * whose start failed at the caller checked nothing, so the store takes it back should it have
 * counted anyway (lockout-redis.ts).
 */
export interface Lockout {
  readonly policy: LockoutPolicy;
  readonly distributed: DistributedLockoutPolicy;
  /** The distributed lock, for operators and unfamiliar addresses. */
  isLocked(subject: string): Promise<LockState>;
  beginAttempt(subject: string, ip: string): Promise<Gate>;
  recordSuccess(subject: string, ip: string): Promise<void>;
  /** For operators: lifts the distributed lock and forgets every count. */
  unlock(subject: string): Promise<void>;
  /** Whether the subject signed in from this client address lately (the distributed lock's exemption). */
  isFamiliar(subject: string, ip: string): Promise<boolean>;
  /** Records a sign-in that was no guess (a passkey, an upstream) as one from a familiar address. */
  markFamiliar(subject: string, ip: string): Promise<void>;
}

/** `sites`: the store of the site rule (SITE_FACTOR), kept apart so that it has its own policy; none, no site rule. */
export function lockoutService(store: LockoutStore, policy: LockoutPolicy, distributed: DistributedLockoutPolicy, sites?: LockoutStore): Lockout {
  return {
    policy,
    distributed,
    async isLocked(subject) {
      const until = await store.lockedUntil(subject, Date.now());
      return until === undefined ? { locked: false } : { locked: true, until: new Date(until), lockedNow: false };
    },
    async beginAttempt(subject, ip) {
      const now = Date.now();
      const bucket = ipBucket(ip);
      const site = ipSite(ip);
      // A /64 where the subject signed in lately is the citizen's own: neither held back by its site
      // (a stranger may share the /48, one carrier's pool) nor counted there.
      // The site admits and counts at once, atomically: a burst from many /64s at once gets no more
      // than its budget (a review: reading first and counting after let 40 at once through). What the
      // site counted for an attempt that goes no further (its /64 refused it, or the /64 is
      // familiar) it gives back: a refused attempt checked nothing (counting those let one address
      // spend its whole /48's budget).
      let bySite = sites && site !== bucket ? sites : undefined;
      if (bySite) {
        const [known, gate] = await Promise.all([store.familiar(subject, bucket, now), bySite.begin(siteSubject(subject), site, now)]);
        const counted = !('refusedUntil' in gate);
        if (known) {
          if (counted) await bySite.giveBack(siteSubject(subject), site, now);
          bySite = undefined;
        } else if (!counted) return { locked: true, until: new Date(gate.refusedUntil), lockedNow: false };
      }
      const r = await store.begin(subject, bucket, now);
      if ('refusedUntil' in r) {
        if (bySite) await bySite.giveBack(siteSubject(subject), site, now);
        return { locked: true, until: new Date(r.refusedUntil), lockedNow: false };
      }
      const until = Math.max(r.nextAt, r.lockedNow ? r.lockedUntil : 0);
      return { locked: false, ifFailed: until > now ? { locked: true, until: new Date(until), lockedNow: r.lockedNow } : { locked: false } };
    },
    async recordSuccess(subject, ip) {
      const now = Date.now();
      const [bucket, site] = [ipBucket(ip), ipSite(ip)];
      // The citizen's own sign-in: it frees their site too, as it does their /64.
      await Promise.all([store.succeed(subject, bucket, now), sites && site !== bucket ? sites.succeed(siteSubject(subject), site, now) : undefined]);
    },
    async unlock(subject) {
      await store.clear(subject);
      await sites?.clear(siteSubject(subject));
    },
    isFamiliar: (subject, ip) => store.familiar(subject, ipBucket(ip), Date.now()),
    markFamiliar: (subject, ip) => store.familiarize(subject, ipBucket(ip), Date.now()),
  };
}

/** Redis when it is configured (shared by every instance), else the SQL store. */
export function createLockout(opts: { db: Database; redis?: RedisClient | undefined; redisPrefix: string; policy: LockoutPolicy; distributed: DistributedLockoutPolicy }): Lockout {
  const storeOf = (policy: LockoutPolicy, distributed: DistributedLockoutPolicy) =>
    opts.redis ? redisLockoutStore(opts.redis, opts.redisPrefix, policy, distributed) : sqlLockoutStore(opts.db, policy, distributed);
  return lockoutService(storeOf(opts.policy, opts.distributed), opts.policy, opts.distributed, storeOf(sitePolicyOf(opts.policy), SITE_DISTRIBUTED));
}

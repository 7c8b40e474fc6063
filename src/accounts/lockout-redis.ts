import { createHash } from 'node:crypto';
import type { RedisClient } from '../storage/redis.js';
import type { LockoutPolicy, LockoutStore } from './lockout.js';

// Two keys per account, in one hash slot (`{accountId}`) so the scripts also run on Redis Cluster:
// `...:lock` exists while the account is locked (its TTL is the lock), `...:attempts` counts the
// attempts of the current window (its TTL is the window). Redis keeps the time, so instances with
// skewed clocks still agree.

/** KEYS: lock, attempts. ARGV: windowMs. Returns {1, lockPttl} or {0, attempts, windowPttl}. */
const BEGIN = `
local lock = redis.call('PTTL', KEYS[1])
if lock > 0 then return {1, lock} end
local n = redis.call('INCR', KEYS[2])
local window = redis.call('PTTL', KEYS[2])
if window < 0 then
  window = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[2], window)
end
return {0, n, window}`;

/** KEYS: lock, attempts. ARGV: maxFailures, lockMs. Returns {0}, {1, lockPttl} (already) or {2, lockPttl} (locked now). */
const LOCK_IF_SPENT = `
local lock = redis.call('PTTL', KEYS[1])
if lock > 0 then return {1, lock} end
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
if n < tonumber(ARGV[1]) then return {0} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
redis.call('DEL', KEYS[2])
return {2, tonumber(ARGV[2])}`;

function script(redis: RedisClient, source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (keys: string[], args: (string | number)[]): Promise<number[]> => {
    try {
      return (await redis.evalsha(sha, keys.length, ...keys, ...args)) as number[];
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      return (await redis.eval(source, keys.length, ...keys, ...args)) as number[];
    }
  };
}

export function redisLockoutStore(redis: RedisClient, prefix: string, policy: LockoutPolicy): LockoutStore {
  const keys = (accountId: string) => [`${prefix}lockout:{${accountId}}:lock`, `${prefix}lockout:{${accountId}}:attempts`];
  const begin = script(redis, BEGIN);
  const lockIfSpent = script(redis, LOCK_IF_SPENT);
  return {
    async begin(accountId, now) {
      const [locked, a = 0, b = 0] = await begin(keys(accountId), [policy.windowSeconds * 1000]);
      return locked ? { lockedUntil: now + a } : { attempts: a, windowEndsAt: now + b };
    },
    async lockIfSpent(accountId, now) {
      const [state, ttl = 0] = await lockIfSpent(keys(accountId), [policy.maxFailures, policy.lockSeconds * 1000]);
      return state ? { lockedUntil: now + ttl, lockedNow: state === 2 } : undefined;
    },
    async clearAttempts(accountId) {
      await redis.del(keys(accountId)[1]!);
    },
    async lockedUntil(accountId, now) {
      const ttl = await redis.pttl(keys(accountId)[0]!);
      return ttl > 0 ? now + ttl : undefined;
    },
    async clear(accountId) {
      await redis.del(...keys(accountId));
    },
  };
}

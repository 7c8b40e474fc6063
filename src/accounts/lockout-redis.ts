import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../storage/redis.js';
import { settleLater } from '../storage/settle-later.js';
import { redisScript, type ScriptArg } from '../storage/redis-script.js';
import type { DistributedLockoutPolicy, LockoutPolicy, LockoutStore } from './lockout.js';

// Keys per subject, in one hash slot (`{subject}`) so the scripts also run on Redis Cluster:
// `...:ip:<address>` is a hash for one address (n: failures, exp: when they are forgotten, next:
// when it may try again, known: until when it is familiar), `...:all` counts the failures from
// every address in the current window (its TTL is the window, and the distributed lock), and
// `...:ips` lists the addresses, so that an unlock can find them without a SCAN. `...:op:<id>` marks
// one call of BEGIN or SUCCEED as done (BEGIN keeps its answer there) for OP_MS.
//
// Each call counts once however often it arrives: when a connection drops after a script reached
// Redis but before its reply came back, ioredis sends it again on the next connection, and Redis
// runs it again (test/integration/lockout-resend.test.ts). Without the mark, a network fault would
// count one sign-in attempt as two guesses, or take back two for one success.
//
// A call can also fail at the caller and still run: the path stalls (a fail-over, a slow master),
// the caller's command timeout answers the sign-in with a 503 before the password is checked, and
// Redis runs BEGIN once the path clears. That attempt was never a guess, so the caller then sends
// ABANDON for the same call id until Redis answers: it takes back what BEGIN counted, or, if BEGIN
// has not arrived yet, leaves a mark that makes it count nothing. A SUCCEED that failed is sent
// again the same way: the password was right. Without this, citizens who retried through an outage
// were throttled after it for guesses they never made.
const OP_MS = 60_000;
/** Retries of a failed call's ABANDON or SUCCEED: first after this, doubling up to RETRY_MAX_MS, for at most OP_MS / 2. */
const RETRY_FIRST_MS = 200;
const RETRY_MAX_MS = 5_000;
/** Calls being settled at once, at most (a long outage under load): past it, a failed attempt stays counted, as before. */
const MAX_SETTLING = 10_000;

/** KEYS: pair, all, ips, op. ARGV: now, maxFailures, windowMs, maxWaitMs, distributedMax, distributedWindowMs, ip, familiarMs, opMs. */
const BEGIN = `
local done = redis.call('GET', KEYS[4])
if done then
  local answer = {}
  for v in string.gmatch(done, '%S+') do answer[#answer + 1] = tonumber(v) end
  return answer
end
local now = tonumber(ARGV[1])
local pair = redis.call('HMGET', KEYS[1], 'n', 'exp', 'next', 'known')
local nxt = tonumber(pair[3] or '0')
if nxt > now then return {1, nxt} end
local all = tonumber(redis.call('GET', KEYS[2]) or '0')
if all >= tonumber(ARGV[5]) and tonumber(pair[4] or '0') <= now then
  return {1, now + math.max(redis.call('PTTL', KEYS[2]), 0)}
end
local n = 1
if tonumber(pair[2] or '0') > now then n = tonumber(pair[1] or '0') + 1 end
local free = tonumber(ARGV[2])
local wait = 0
if n >= free then wait = math.min(1000 * 2 ^ math.min(n - free, 30), tonumber(ARGV[4])) end
redis.call('HSET', KEYS[1], 'n', n, 'exp', now + tonumber(ARGV[3]), 'next', now + wait)
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
redis.call('SADD', KEYS[3], ARGV[7])
redis.call('PEXPIRE', KEYS[3], math.max(tonumber(ARGV[3]), tonumber(ARGV[8])))
local a = redis.call('INCR', KEYS[2])
if a == 1 then redis.call('PEXPIRE', KEYS[2], ARGV[6]) end
local lockedNow = 0
if a == tonumber(ARGV[5]) then lockedNow = 1 end
local answer = {0, now + wait, lockedNow, now + math.max(redis.call('PTTL', KEYS[2]), 0)}
redis.call('SET', KEYS[4], table.concat(answer, ' '), 'PX', ARGV[9])
return answer`;

/** KEYS: pair, all, ips, op. ARGV: now, familiarMs, ip, opMs. */
const SUCCEED = `
if not redis.call('SET', KEYS[4], 1, 'NX', 'PX', ARGV[4]) then return 0 end
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'known', tonumber(ARGV[1]) + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0`;

/** KEYS: pair, ips. ARGV: knownUntil, familiarMs, ip. Makes the address familiar; counts stay as they are. */
const FAMILIARIZE = `
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[1], 'known', ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/**
 * The tail of ABANDON and GIVE_BACK (KEYS: pair, all; ARGV[2]: maxFailures): one attempt taken
 * back from the address and the subject; the address's wait ends below maxFailures.
 */
const TAKE_BACK = `local n = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
if n > 0 then
  redis.call('HSET', KEYS[1], 'n', n - 1)
  if n - 1 < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], 'next', 0) end
end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0`;

/**
 * KEYS: pair, all, op. ARGV: opMs, maxFailures. Takes back what BEGIN call `op` counted (a refusal
 * counted nothing), once; or marks the call abandoned so that a BEGIN arriving later counts nothing.
 */
const ABANDON = `
local done = redis.call('GET', KEYS[3])
if not done then
  redis.call('SET', KEYS[3], 'abandoned', 'PX', ARGV[1])
  return 0
end
if done == 'abandoned' or done == 'undone' then return 0 end
redis.call('SET', KEYS[3], 'undone', 'PX', ARGV[1])
if tonumber(string.match(done, '^%S+')) ~= 0 then return 0 end
${TAKE_BACK}`;

/** KEYS: pair, all. ARGV: (unused), maxFailures. Takes back one counted attempt (lockout.ts `giveBack`). */
const GIVE_BACK = TAKE_BACK;

/** KEYS: all. ARGV: distributedMax. Returns the lock's PTTL, or 0. */
const LOCKED = `
if tonumber(redis.call('GET', KEYS[1]) or '0') < tonumber(ARGV[1]) then return 0 end
return math.max(redis.call('PTTL', KEYS[1]), 0)`;

/** KEYS: all, ips. ARGV: the pair key's prefix. Forgets every count and wait; familiar addresses stay. */
const CLEAR = `
redis.call('DEL', KEYS[1])
for _, ip in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('HDEL', ARGV[1] .. ip, 'n', 'exp', 'next')
end
return 0`;

/** The lockout scripts answer numbers, or lists of numbers. */
const script = (redis: RedisClient, source: string) => {
  const run = redisScript(redis, source);
  return async (keys: string[], args: ScriptArg[]) => (await run(keys, args)) as number[] | number;
};

export function redisLockoutStore(redis: RedisClient, prefix: string, policy: LockoutPolicy, distributed: DistributedLockoutPolicy): LockoutStore {
  const all = (subject: string) => `${prefix}lockout:{${subject}}:all`;
  const ips = (subject: string) => `${prefix}lockout:{${subject}}:ips`;
  const pairPrefix = (subject: string) => `${prefix}lockout:{${subject}}:ip:`;
  const keys = (subject: string, ip: string) => [pairPrefix(subject) + ip, all(subject), ips(subject)];
  // A new id per call; a resent call carries the same one.
  const op = (subject: string) => `${prefix}lockout:{${subject}}:op:${randomBytes(12).toString('base64url')}`;
  const begin = script(redis, BEGIN);
  const succeed = script(redis, SUCCEED);
  const abandon = script(redis, ABANDON);
  const locked = script(redis, LOCKED);
  const clear = script(redis, CLEAR);
  const familiarize = script(redis, FAMILIARIZE);
  const giveBack = script(redis, GIVE_BACK);

  // Sends `call` until Redis answers it (it is idempotent: the same call id), in the background.
  const later = settleLater({ firstMs: RETRY_FIRST_MS, maxMs: RETRY_MAX_MS, forMs: OP_MS / 2, maxPending: MAX_SETTLING });

  return {
    async begin(subject, ip, now) {
      const args = [now, policy.maxFailures, policy.windowSeconds * 1000, policy.lockSeconds * 1000, distributed.maxFailures, distributed.windowSeconds * 1000, ip, distributed.familiarSeconds * 1000, OP_MS];
      const [pair, allKey, ipsKey] = keys(subject, ip);
      const call = op(subject);
      try {
        const [refused, a = 0, b = 0, c = 0] = (await begin([pair!, allKey!, ipsKey!, call], args)) as number[];
        return refused ? { refusedUntil: a } : { nextAt: a, lockedNow: b === 1, lockedUntil: c };
      } catch (err) {
        later(() => abandon([pair!, allKey!, call], [OP_MS, policy.maxFailures]));
        throw err;
      }
    },
    async succeed(subject, ip, now) {
      const callKeys = [...keys(subject, ip), op(subject)];
      const args = [now, distributed.familiarSeconds * 1000, ip, OP_MS];
      try {
        await succeed(callKeys, args);
      } catch (err) {
        later(() => succeed(callKeys, args));
        throw err;
      }
    },
    async familiarize(subject, ip, now) {
      const [pair, , ipsKey] = keys(subject, ip);
      await familiarize([pair!, ipsKey!], [now + distributed.familiarSeconds * 1000, distributed.familiarSeconds * 1000, ip]);
    },
    async familiar(subject, ip, now) {
      return Number((await redis.hget(pairPrefix(subject) + ip, 'known')) ?? 0) > now;
    },
    async giveBack(subject, ip) {
      const [pair, allKey] = keys(subject, ip);
      await giveBack([pair!, allKey!], [0, policy.maxFailures]);
    },
    async lockedUntil(subject, now) {
      const ttl = (await locked([all(subject)], [distributed.maxFailures])) as number;
      return ttl > 0 ? now + ttl : undefined;
    },
    async clear(subject) {
      // A key named inside the script: every pair key shares the subject's slot (its hash tag).
      await clear([all(subject), ips(subject)], [pairPrefix(subject)]);
    },
  };
}

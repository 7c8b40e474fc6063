import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../storage/redis.js';
import { settleLater } from '../storage/settle-later.js';
import { REFUSE_WHEN_FULL, redisScript, type ScriptArg } from '../storage/redis-script.js';
import { DEFAULT_RETAIN_EXPIRED_MS, type AttemptClaim, type OtpStore, type RollingLimit, type StoredCode, type ThrottleTake } from './otp-store.js';

// A code is a hash at `<prefix>sms:code:<key>`: `hash`, `exp`, `created`, `att` and, once used,
// `consumed`. It expires natively `retainExpiredMs` after the code does.
// A throttle is a sorted set at `<prefix>sms:sends:<key>` of sends scored by time (a sliding log),
// expiring natively one window after the latest send.
// Each script touches one key, so the store also works on Redis Cluster.
//
// Each call answers a resend as it answered the first run: when a connection drops after a script
// reached Redis but before its reply came back, ioredis sends it again on the next connection and
// Redis runs it again (test/integration/sms-store-resend.test.ts). A call carries its own id (the
// same in a resend), kept in the key it changed: `claim` and `consumedBy` in the code's hash, the
// member itself in the throttle's set.
//
// A call can also fail at the caller and still run: the path stalls (a fail-over, a slow master),
// the caller's command timeout answers the citizen with a 503 before any code was compared, and
// Redis runs the step once the path clears. The caller then sends ABANDON for that call id until
// Redis answers, so that a check that never happened neither spends a try nor uses up the code
// (test/integration/sms-store-resend.test.ts). A send (TAKE) that failed stays taken: it errs on
// the side of the limit.

/**
 * KEYS[1] code; ARGV now, maxAttempts, call id. Counts an attempt only on a live code, and marks it
 * `claim:<id>` (an older instance marks the latest in `claim`). A call abandoned before it arrived
 * counts nothing.
 */
const CLAIM_ATTEMPT = `
local h = redis.call('HMGET', KEYS[1], 'hash', 'exp', 'att', 'consumed', 'claim', 'claim:' .. ARGV[3], 'abandoned:' .. ARGV[3])
if not h[1] or h[7] then return {'missing'} end
if h[5] == ARGV[3] or h[6] then return {'claimed', h[1]} end
if h[4] then return {'consumed'} end
if tonumber(h[3]) >= tonumber(ARGV[2]) then return {'exhausted'} end
if tonumber(h[2]) <= tonumber(ARGV[1]) then return {'expired'} end
redis.call('HINCRBY', KEYS[1], 'att', 1)
redis.call('HSET', KEYS[1], 'claim:' .. ARGV[3], 1)
return {'claimed', h[1]}`;

/** KEYS[1] code; ARGV codeHash, now, call id. 1 = this call consumed it. */
const CONSUME = `
local h = redis.call('HMGET', KEYS[1], 'hash', 'consumedBy', 'abandoned:' .. ARGV[3])
if h[1] ~= ARGV[1] or h[3] then return 0 end
if h[2] == ARGV[3] then return 1 end
local done = redis.call('HSETNX', KEYS[1], 'consumed', ARGV[2])
if done == 1 then redis.call('HSET', KEYS[1], 'consumedBy', ARGV[3]) end
return done`;

/**
 * KEYS[1] code; ARGV call id. The caller of CLAIM_ATTEMPT or CONSUME with this id gave up before
 * its answer (its command timed out) and compared nothing: take back the attempt it counted, or the
 * use it made of the code, and make it count nothing if it has not arrived yet. Never creates the
 * key (a code that is gone stays gone).
 */
const ABANDON = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('HDEL', KEYS[1], 'claim:' .. ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'att', -1) end
if redis.call('HGET', KEYS[1], 'consumedBy') == ARGV[1] then redis.call('HDEL', KEYS[1], 'consumed', 'consumedBy') end
redis.call('HSET', KEYS[1], 'abandoned:' .. ARGV[1], 1)
return 1`;

/** KEYS[1] sends; ARGV now, windowMs, max, member (this call's own). {1, 0} = taken; {0, ms} = full for ms more. */
const TAKE = `${REFUSE_WHEN_FULL('KEYS[1]')}
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return {1, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= max then
  local oldest = redis.call('ZRANGE', KEYS[1], n - max, n - max, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}`;

const callId = () => randomBytes(12).toString('base64url');

/** Each script here touches one key. */
function script(redis: RedisClient, source: string) {
  const run = redisScript(redis, source);
  return (key: string, args: ScriptArg[]) => run([key], args);
}

export interface RedisOtpStoreOptions {
  /** Key prefix, e.g. `yihao:`. */
  prefix: string;
  retainExpiredMs?: number;
}

/** SMS codes and throttles in Redis: shared by every instance, atomic through one-key Lua scripts. */
export function createRedisOtpStore(redis: RedisClient, { prefix, retainExpiredMs = DEFAULT_RETAIN_EXPIRED_MS }: RedisOtpStoreOptions): OtpStore {
  const claimAttempt = script(redis, CLAIM_ATTEMPT);
  const consume = script(redis, CONSUME);
  const take = script(redis, TAKE);
  const abandon = script(redis, ABANDON);
  // A stall longer than this (Redis unreachable, not slow) ends with the step counted, as before.
  const later = settleLater({ forMs: 120_000 });
  /** Runs one step of a check; if its caller gives up, the step is abandoned (see ABANDON). */
  const step = async (run: typeof claimAttempt, key: string, args: ScriptArg[], id: string): Promise<unknown> => {
    try {
      return await run(key, [...args, id]);
    } catch (err) {
      later(() => abandon(key, [id]));
      throw err;
    }
  };
  const codeKey = (key: string) => `${prefix}sms:code:${key}`;
  const sendsKey = (key: string) => `${prefix}sms:sends:${key}`;

  return {
    async putCode(key: string, { codeHash, createdAt, expiresAt }: StoredCode, now: number): Promise<void> {
      const k = codeKey(key);
      const ttl = Math.max(1, expiresAt + retainExpiredMs - now);
      const results = await redis.multi().del(k).hset(k, { hash: codeHash, exp: expiresAt, created: createdAt, att: 0 }).pexpire(k, ttl).exec();
      const failed = results?.find(([err]) => err);
      if (failed?.[0]) throw failed[0];
    },

    async claimAttempt(key: string, now: number, maxAttempts: number): Promise<AttemptClaim> {
      const [status, codeHash] = (await step(claimAttempt, codeKey(key), [now, maxAttempts], callId())) as [string, string?];
      if (status === 'claimed' && codeHash) return { status, codeHash };
      if (status === 'missing' || status === 'consumed' || status === 'exhausted' || status === 'expired') return { status };
      throw new Error(`unexpected answer from the SMS code script: ${status}`);
    },

    async consume(key: string, codeHash: string, now: number): Promise<boolean> {
      return (await step(consume, codeKey(key), [codeHash, now], callId())) === 1;
    },

    async take(key: string, { max, windowMs }: RollingLimit, now: number): Promise<ThrottleTake> {
      const k = sendsKey(key);
      const member = `${now}:${randomBytes(6).toString('base64url')}`;
      const [taken, retryAfterMs] = (await take(k, [now, windowMs, max, member])) as [number, number];
      if (taken !== 1) return { ok: false, retryAfterMs: Math.max(1, retryAfterMs) };
      return {
        ok: true,
        async release() {
          await redis.zrem(k, member);
        },
      };
    },

    async sweep(): Promise<number> {
      return 0;
    },
  };
}

import { createHash } from 'node:crypto';
import type { RedisClient } from './redis.js';

export type ScriptArg = string | number;

/**
 * A Lua script sent as EVALSHA (its source only once per server), falling back to EVAL when the
 * server has not seen it (after a restart or a fail-over).
 */
export function redisScript(redis: RedisClient, source: string) {
  const sha = createHash('sha1').update(source).digest('hex');
  return async (keys: string[], args: ScriptArg[]): Promise<unknown> => {
    try {
      return await redis.evalsha(sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
      return redis.eval(source, keys.length, ...keys, ...args);
    }
  };
}

/**
 * The first line of a script that adds data to `key` (a key it declares): Redis answers OOM there
 * when it is full (`maxmemory` under `noeviction`). Redis checks the limit only on a script's first
 * write command, and lets every later one through so as not to stop a script half done, so a
 * script that starts by deleting (DEL, SREM, ZREMRANGEBYSCORE) would go on to add past the limit.
 * SETRANGE of nothing is such a first write that changes nothing: on a missing key it creates
 * none, and on a hash or set it is refused as the wrong type, which is ignored.
 */
export const REFUSE_WHEN_FULL = (key: string) => `
local room = redis.pcall('SETRANGE', ${key}, 0, '')
if type(room) == 'table' and room.err and string.sub(room.err, 1, 4) == 'OOM ' then return redis.error_reply(room.err) end`;

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

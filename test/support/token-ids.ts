import { createPurposeKeys } from '../../src/identity/index.js';
import type { Harness } from './harness.js';

/** The key a token is stored under (src/oidc/hashed-token-ids.ts), for tests that read or change its record through the raw store. */
export function storedTokenId(h: Pick<Harness, 'config'>, value: string): string {
  return createPurposeKeys(h.config.secrets).keyed('token_id', h.config.keys.purposes.tokenId.version)('token_id', value);
}

/** Everything the stores hold, as text: every SQL row of the provider's table, every Redis key and value under this deployment's prefix (what a dump or a replica gives a thief). */
export async function storeDump(h: Pick<Harness, 'yihao' | 'config'>): Promise<string> {
  const rows = (await h.yihao.stores.db('oidc_models').select('*')) as Record<string, unknown>[];
  const parts = rows.map((row) => JSON.stringify(row));
  const redis = h.yihao.stores.redis;
  if (redis) {
    const keys = await redis.keys(`${h.config.redisPrefix}*`);
    for (const key of keys) {
      const type = await redis.type(key);
      const value =
        type === 'string' ? await redis.get(key) : type === 'hash' ? await redis.hgetall(key) : type === 'set' ? await redis.smembers(key) : type === 'zset' ? await redis.zrange(key, 0, -1) : type === 'list' ? await redis.lrange(key, 0, -1) : type;
      parts.push(`${key} ${JSON.stringify(value)}`);
    }
  }
  return parts.join('\n');
}

import { Redis } from 'ioredis';

export type RedisClient = Redis;

/** One connection per process; commands queue while it reconnects instead of failing at once. */
export function openRedis(url: string): RedisClient {
  return new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, lazyConnect: false });
}

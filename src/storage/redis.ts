import { Redis } from 'ioredis';

export type RedisClient = Redis;

/**
 * One connection per process; commands queue while it reconnects instead of failing at once.
 * Connection errors go to `onError` (a log line), never to ioredis's unhandled-error stack dump.
 */
export function openRedis(url: string, onError: (err: Error) => void = () => undefined): RedisClient {
  const redis = new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, lazyConnect: false });
  redis.on('error', onError);
  return redis;
}

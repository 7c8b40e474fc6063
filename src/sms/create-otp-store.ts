import type { Database } from '../storage/database.js';
import type { RedisClient } from '../storage/redis.js';
import type { OtpStore } from './otp-store.js';
import { createRedisOtpStore } from './redis-otp-store.js';
import { createSqlOtpStore } from './sql-otp-store.js';

export interface OtpStoreOptions {
  db: Database;
  /** When set, codes and throttles live in Redis, shared by every instance. */
  redis?: RedisClient | undefined;
  redisPrefix?: string;
  /** How long an expired code is kept, so that verifying it says 'expired' rather than 'invalid'. Default 1 hour. */
  retainExpiredMs?: number;
}

/** Redis when configured (as for every short-lived record), the SQL store otherwise. */
export function createOtpStore({ db, redis, redisPrefix = 'yihao:', retainExpiredMs }: OtpStoreOptions): OtpStore {
  const retain = retainExpiredMs === undefined ? {} : { retainExpiredMs };
  return redis ? createRedisOtpStore(redis, { prefix: redisPrefix, ...retain }) : createSqlOtpStore(db, retain);
}

import type { Database } from './database.js';
import type { RedisClient } from './redis.js';
import { inBackground } from './request-memo.js';

/** Statements sent to SQL and commands sent to Redis since the counter started. */
export interface RoundTrips {
  sql: number;
  redis: number;
  /** What timers did behind the hot path (the audit sealer, the signing-key poll; see `backgroundWork`), counted apart. */
  background: { sql: number; redis: number };
}

export interface RoundTripCounter {
  read(): RoundTrips;
  /** Detaches from both stores; the counts stay readable. */
  stop(): void;
}

interface CommandSender {
  sendCommand(command: { name: string }, stream?: unknown): unknown;
}

/**
 * Counts what the stores are asked to do, for the bench and for the round-trip tests, so their
 * figures come from the code itself. SQL: knex's `query` event, which fires once per statement sent
 * (BEGIN and COMMIT included). Redis: every command ioredis sends on this client, whether pipelined,
 * inside MULTI, or alone; MULTI and EXEC count too, as they are commands the server runs.
 */
export function countRoundTrips(stores: { db: Database; redis?: RedisClient | undefined }): RoundTripCounter {
  const counts = { sql: 0, redis: 0, background: { sql: 0, redis: 0 } };
  const tally = (kind: 'sql' | 'redis') => {
    if (inBackground()) counts.background[kind]++;
    else counts[kind]++;
  };
  const onQuery = () => tally('sql');
  stores.db.on('query', onQuery);

  const redis = stores.redis as unknown as CommandSender | undefined;
  const original = redis?.sendCommand;
  if (redis && original) {
    redis.sendCommand = function (this: CommandSender, command, stream) {
      tally('redis');
      return original.call(this, command, stream);
    };
  }

  return {
    read: () => ({ sql: counts.sql, redis: counts.redis, background: { ...counts.background } }),
    stop() {
      stores.db.off('query', onQuery);
      if (redis && original) redis.sendCommand = original;
    },
  };
}

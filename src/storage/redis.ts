import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { describeRedis, type RedisConnection } from '../config/redis-connection.js';
import { DependencyUnavailable } from './dependency-failure.js';

// Loaded when Redis is configured: the embedded default (SQLite alone) never needs it.
const ioredis = () => createRequire(import.meta.url)('ioredis') as typeof import('ioredis');

/** One server, a Sentinel-watched master, or a Cluster: the stores use only what all three share. */
export type RedisClient = Redis | Cluster;

// A request that needs Redis while it is down fails after a few reconnection attempts (a 503, see
// http/request-context.ts) instead of waiting for it; a dead socket is noticed within seconds.
const perConnection: RedisOptions = {
  maxRetriesPerRequest: 3,
  connectTimeout: 2_000,
  commandTimeout: 5_000,
  // After a Sentinel fail-over the old master comes back as a replica: a write sent to it reconnects
  // (ioredis asks the sentinels for the new master) and is sent again.
  reconnectOnError: (err) => (/^(READONLY|LOADING|MASTERDOWN)/.test(err.message) ? 2 : false),
};

/**
 * How long a connection with commands waiting may hear nothing before it is dropped and opened
 * anew. Twice the command timeout: a Redis that answers, however slowly, is never cut off.
 */
export const REDIS_STALL_MS = 10_000;

/**
 * A Redis whose host is lost without a reset (a managed Redis failing over behind the same
 * address, a partition) leaves the connection open and silent: every command would time out, for
 * about 15 minutes until the operating system gives up, also once Redis is back. A connection that
 * has had commands waiting and has heard nothing for `stallMs` is destroyed instead; ioredis then
 * reconnects and sends the unanswered commands again (what a resent step must not count twice is
 * the stores' concern: redis-adapter.ts, lockout-redis.ts, redis-otp-store.ts).
 */
function reconnectWhenSilent(redis: Redis, stallMs: number): void {
  // Elapsed time on the monotonic clock: a wall clock stepped back (an NTP correction) would hide a
  // stall for as long as the step.
  let heard = performance.now();
  // When this check first saw commands waiting (undefined: none were).
  let waitingSince: number | undefined;
  redis.on('connect', () => {
    heard = performance.now();
    waitingSince = undefined;
    redis.stream.on('data', () => void (heard = performance.now()));
  });
  const check = setInterval(
    () => {
      if (redis.status !== 'ready' || redis.commandQueue.length === 0) return void (waitingSince = undefined);
      const now = performance.now();
      waitingSince ??= now;
      if (now - Math.max(heard, waitingSince) < stallMs) return;
      waitingSince = undefined;
      redis.stream.destroy(new Error(`Redis heard nothing for ${stallMs} ms with commands waiting: opening a new connection`));
    },
    Math.min(1_000, stallMs / 4),
  );
  check.unref();
  redis.once('end', () => clearInterval(check));
}

/**
 * One connection (or one set of cluster connections) per process; commands queue briefly while it
 * reconnects. Without ioredis's auto-pipelining: each request sends its commands one after another
 * (each waits for the last one's answer), so there was nothing to batch, and it built a pipeline for
 * every command (12 promises more per refresh). The CPU it saves is within this host's spread
 * (bench/README.md, twenty-third session). Connection errors go to `onError` (a log line), never to ioredis's unhandled-error
 * stack dump.
 */
export function openRedis(url: string, onError?: (err: Error) => void, opts?: { stallMs?: number }): Redis;
export function openRedis(conn: RedisConnection, onError?: (err: Error) => void, opts?: { stallMs?: number }): RedisClient;
export function openRedis(conn: RedisConnection | string, onError: (err: Error) => void = () => undefined, { stallMs = REDIS_STALL_MS }: { stallMs?: number } = {}): RedisClient {
  const c: RedisConnection = typeof conn === 'string' ? { kind: 'standalone', url: conn } : conn;
  const { Cluster, Redis } = ioredis();
  let redis: RedisClient;
  if (c.kind === 'cluster') {
    redis = new Cluster(c.nodes, {
      // Every command goes to a master: a replica may lag behind a write this instance just made.
      scaleReads: 'master',
      clusterRetryStrategy: (times) => Math.min(100 * times, 2_000),
      redisOptions: { ...perConnection, ...(c.password ? { password: c.password } : {}), ...(c.tls ? { tls: {} } : {}) },
    });
  } else if (c.kind === 'sentinel') {
    redis = new Redis({
      ...perConnection,
      sentinels: c.sentinels,
      name: c.masterName,
      // Listens for +switch-master, so a fail-over moves this connection at once, not at its next error.
      failoverDetector: true,
      ...(c.password ? { password: c.password } : {}),
      ...(c.sentinelPassword ? { sentinelPassword: c.sentinelPassword } : {}),
      ...(c.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
    });
  } else {
    redis = new Redis(c.url, { ...perConnection });
  }
  // A Cluster holds one connection per node, each watched on its own.
  if (c.kind === 'cluster') redis.on('+node', (node: Redis) => reconnectWhenSilent(node, stallMs));
  else reconnectWhenSilent(redis as Redis, stallMs);
  redis.on('error', onError);
  return redis;
}

/**
 * Start-up check: one line naming Redis (never its password) when it does not answer, instead of
 * ioredis's "Reached the max retries per request limit" from whichever store asked first.
 */
export async function expectRedis(redis: RedisClient, conn: RedisConnection, timeoutMs = 5_000): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), timeoutMs);
  });
  try {
    await Promise.race([redis.ping(), timeout]);
  } catch {
    throw new DependencyUnavailable(`${describeRedis(conn)} is not reachable`);
  } finally {
    clearTimeout(timer);
  }
}

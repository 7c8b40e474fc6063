import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { BoundedMemoryLimiter } from './bounded-memory-limiter.js';
import type { RedisClient } from '../storage/redis.js';
import { ipBucket } from './ip-bucket.js';

/** From config `rateLimits`: `points` per client address within `durationSeconds`. */
export interface RateLimitRule {
  points: number;
  durationSeconds: number;
}

/** Which answers spend a point: every request, or only those that `failed` says are failures. */
export type Counting = 'every' | { failed: (ctx: Context) => boolean };

interface Refusal {
  until: number;
}

/**
 * Rate limits at the edge, per client address (Koa's `ctx.ip`, which honours the trusted-proxy
 * setting), counted in Redis when it is configured (shared by every instance) and in memory
 * otherwise, with rate-limiter-flexible.
 *
 * Counting only failures keeps legitimate traffic free: a gateway sending thousands of good
 * requests a second from one address never spends a point, and a good request costs no Redis
 * command at all. The verdict "refused until T" is also kept in this instance's memory, so a
 * refused flood costs no Redis command either; another instance learns it at its next failure.
 *
 * 429 with Retry-After. Audited in aggregate: one `ratelimit.refused` event per limit and address
 * when its refusal begins (at most once per window per instance), never one per refused request.
 */
export function createRateLimits(opts: {
  redis?: RedisClient | undefined;
  prefix: string;
  logger?: Pick<Logger, 'warn'>;
  /** One aggregated event when an address starts being refused. */
  onRefusalStart?: (e: { limit: string; ip: string; windowSeconds: number; points: number }) => Promise<void>;
}) {
  const refusals = new Map<string, Refusal>();
  const MAX_REMEMBERED = 50_000;

  function limiterFor(name: string, rule: RateLimitRule): Pick<RateLimiterRedis, 'consume'> {
    const common = { keyPrefix: `${opts.prefix}ratelimit:${name}`, points: rule.points, duration: rule.durationSeconds };
    // While Redis errors, each instance counts in its own memory: a budget per instance, never none
    // (an outage would otherwise open client-secret guessing to anyone).
    return opts.redis
      ? new RateLimiterRedis({ ...common, storeClient: opts.redis, useRedisPackage: false, insuranceLimiter: new BoundedMemoryLimiter(common) })
      : new BoundedMemoryLimiter(common);
  }

  function refuse(ctx: Context, until: number, html: boolean): void {
    const seconds = Math.max(1, Math.ceil((until - Date.now()) / 1000));
    ctx.status = 429;
    ctx.set('retry-after', String(seconds));
    ctx.set('cache-control', 'no-store');
    if (html) {
      ctx.type = 'text/html; charset=utf-8';
      ctx.body = `<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>请求过多 / Too many requests</title><main><h1>请求过多 / Too many requests</h1><p role="alert">请 ${seconds} 秒后重试。 Try again in ${seconds} seconds.</p></main></html>`;
    } else {
      ctx.body = { error: 'too_many_requests', error_description: `too many failed requests from this address: try again in ${seconds} seconds` };
    }
  }

  return {
    /**
     * A budget of `rule.points` per `key` within the window (not per address: a staff member, say),
     * shared by every instance as the address limits are. Each call spends a point, and answers how
     * many seconds to wait when the budget was already spent (undefined: go ahead).
     */
    perKey(name: string, rule: RateLimitRule): (key: string) => Promise<number | undefined> {
      const limiter = limiterFor(name, rule);
      return async (key) => {
        try {
          await limiter.consume(key);
          return undefined;
        } catch (e) {
          if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
          throw e;
        }
      };
    },
    /**
     * A middleware that limits `name` per address. `html`: the refusal is a page (browser forms),
     * else RFC 6749-style JSON.
     */
    limit(name: string, rule: RateLimitRule, counting: Counting, { html = false }: { html?: boolean } = {}): Middleware {
      const limiter = limiterFor(name, rule);
      // Not async: a request that passes a failure-counting limit costs one promise here, not an async frame's.
      return (ctx: Context, next: Next) => {
        // An IPv6 /64 is one client (ip-bucket.ts): rotating through one's own /64 is not a fresh budget.
        const client = ipBucket(ctx.ip);
        const key = `${name}:${client}`;
        const known = refusals.get(key);
        if (known && known.until > Date.now()) return Promise.resolve(refuse(ctx, known.until, html));
        if (known) refusals.delete(key);

        // Counting failures, the one that spends the last point is refused; counting every request,
        // the one after it.
        const spend = async (): Promise<number | undefined> => {
          try {
            const res = await limiter.consume(client);
            return counting !== 'every' && res.consumedPoints >= rule.points ? Date.now() + res.msBeforeNext : undefined;
          } catch (e) {
            if (e instanceof RateLimiterRes) return Date.now() + e.msBeforeNext;
            // Neither Redis nor the memory standing in for it answered: let the request be rather than refuse every citizen.
            opts.logger?.warn({ event: 'ratelimit.store_failed', limit: name, err: e }, 'rate limit store failed; request let through');
            return undefined;
          }
        };
        const started = async (until: number) => {
          if (refusals.size >= MAX_REMEMBERED) refusals.clear();
          refusals.set(key, { until });
          // The refusal stands if its audit record cannot be written (the database down): a 429, not a 500.
          await opts.onRefusalStart?.({ limit: name, ip: ctx.ip, windowSeconds: rule.durationSeconds, points: rule.points }).catch((err: unknown) => {
            opts.logger?.warn({ event: 'ratelimit.audit_failed', limit: name, err }, 'rate limit refusal not audited');
          });
        };

        if (counting === 'every') {
          return spend().then(async (until) => {
            if (until === undefined) return next();
            await started(until);
            refuse(ctx, until, html);
          });
        }
        const failed = counting.failed;
        const afterFailure = async () => {
          const until = await spend();
          // The failure that spends the last point is itself answered 429.
          if (until !== undefined) {
            await started(until);
            refuse(ctx, until, html);
          }
        };
        return next().then(() => (failed(ctx) ? afterFailure() : undefined));
      };
    },
  };
}
export type RateLimits = ReturnType<typeof createRateLimits>;

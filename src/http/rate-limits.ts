import type { Context, Middleware, Next } from 'koa';
import type { Logger } from 'pino';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RedisClient } from '../storage/redis.js';
import { ipBucket, ipv6Site } from './ip-bucket.js';

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
 * An IPv6 site's (/48's) budget, in budgets of one client (/64): a site is counted besides its
 * /64s, so that holding a /48 (a tunnel broker hands one out for free) buys 16 budgets, not 65,536.
 * Generous, as one IPv4 address behind a carrier's NAT is for the many citizens who share it.
 */
export const IPV6_SITE_FACTOR = 16;

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

  function limiterFor(name: string, rule: RateLimitRule): RateLimiterAbstract {
    const common = { keyPrefix: `${opts.prefix}ratelimit:${name}`, points: rule.points, duration: rule.durationSeconds };
    // While Redis errors, each instance counts in its own memory: a budget per instance, never none
    // (an outage would otherwise open client-secret guessing to anyone).
    return opts.redis
      ? new RateLimiterRedis({ ...common, storeClient: opts.redis, useRedisPackage: false, insuranceLimiter: new RateLimiterMemory(common) })
      : new RateLimiterMemory(common);
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
     * A middleware that limits `name` per address. `html`: the refusal is a page (browser forms),
     * else RFC 6749-style JSON.
     */
    limit(name: string, rule: RateLimitRule, counting: Counting, { html = false }: { html?: boolean } = {}): Middleware {
      const siteRule = { points: rule.points * IPV6_SITE_FACTOR, durationSeconds: rule.durationSeconds };
      const budgets = { client: { limit: name, rule, limiter: limiterFor(name, rule) }, site: { limit: `${name}:ipv6-site`, rule: siteRule, limiter: limiterFor(`${name}:ipv6-site`, siteRule) } };
      return async (ctx: Context, next: Next) => {
        // An IPv6 /64 is one client (ip-bucket.ts): rotating through one's own /64 is not a fresh budget;
        // its /48 is counted as well, with a larger one.
        const site = ipv6Site(ctx.ip);
        const counted = [{ ...budgets.client, id: ipBucket(ctx.ip) }, ...(site ? [{ ...budgets.site, id: site }] : [])].map((b) => ({ ...b, key: `${b.limit}:${b.id}` }));
        for (const { key } of counted) {
          const known = refusals.get(key);
          if (known && known.until > Date.now()) return refuse(ctx, known.until, html);
          if (known) refusals.delete(key);
        }

        // Counting failures, the one that spends the last point is refused; counting every request,
        // the one after it.
        const spendOne = async ({ limit, rule, limiter, id }: (typeof counted)[number]): Promise<number | undefined> => {
          try {
            const res = await limiter.consume(id);
            return counting !== 'every' && res.consumedPoints >= rule.points ? Date.now() + res.msBeforeNext : undefined;
          } catch (e) {
            if (e instanceof RateLimiterRes) return Date.now() + e.msBeforeNext;
            // Neither Redis nor the memory standing in for it answered: let the request be rather than refuse every citizen.
            opts.logger?.warn({ event: 'ratelimit.store_failed', limit, err: e }, 'rate limit store failed; request let through');
            return undefined;
          }
        };
        /** Spends a point of every budget the request counts against; when one is spent, refuses until the latest refusal ends. */
        const spend = async (): Promise<number | undefined> => {
          const untils = await Promise.all(counted.map(spendOne));
          let latest: number | undefined;
          for (const [i, until] of untils.entries()) {
            if (until === undefined) continue;
            const budget = counted[i]!;
            if (refusals.size >= MAX_REMEMBERED) refusals.clear();
            refusals.set(budget.key, { until });
            await opts.onRefusalStart?.({ limit: budget.limit, ip: ctx.ip, windowSeconds: budget.rule.durationSeconds, points: budget.rule.points });
            latest = Math.max(latest ?? 0, until);
          }
          return latest;
        };

        if (counting === 'every') {
          const until = await spend();
          if (until !== undefined) return refuse(ctx, until, html);
          return next();
        }
        await next();
        if (!counting.failed(ctx)) return;
        const until = await spend();
        // The failure that spends the last point is itself answered 429.
        if (until !== undefined) refuse(ctx, until, html);
      };
    },
  };
}
export type RateLimits = ReturnType<typeof createRateLimits>;

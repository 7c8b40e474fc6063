import Router from '@koa/router';
import type { Database } from '../storage/database.js';
import type { RedisClient } from '../storage/redis.js';

/** Liveness says the process answers; readiness says its stores do. */
export function healthRouter({ db, redis }: { db: Database; redis: RedisClient | undefined }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const checks: Record<string, 'ok' | 'down'> = {};
    checks.database = await db.raw('select 1').then(
      () => 'ok' as const,
      () => 'down' as const,
    );
    if (redis) {
      checks.redis = await redis.ping().then(
        () => 'ok' as const,
        () => 'down' as const,
      );
    }
    const ready = Object.values(checks).every((c) => c === 'ok');
    ctx.status = ready ? 200 : 503;
    ctx.body = { status: ready ? 'ok' : 'unavailable', checks };
  });
  return router;
}

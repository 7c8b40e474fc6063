import Router from '@koa/router';
import type { Database } from '../storage/database.js';
import type { RedisClient } from '../storage/redis.js';

/** A check that does not answer within this long counts as down: a load balancer must not wait on it. */
const CHECK_TIMEOUT_MS = 2_000;

function check(probe: () => Promise<unknown>): Promise<'ok' | 'down'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'down'>((resolve) => {
    timer = setTimeout(() => resolve('down'), CHECK_TIMEOUT_MS);
  });
  const answer = probe().then(
    () => 'ok' as const,
    () => 'down' as const,
  );
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

/**
 * Liveness says the process answers; readiness says its stores do, and that it is not shutting down
 * (`draining()`), so that a load balancer stops sending it new requests before it stops listening.
 */
export function healthRouter({ db, redis, draining = () => false }: { db: Database; redis: RedisClient | undefined; draining?: () => boolean }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [database, cache] = await Promise.all([check(() => db.raw('select 1')), redis ? check(() => redis.ping()) : undefined]);
    const checks: Record<string, 'ok' | 'down'> = { database };
    if (cache) checks.redis = cache;
    const stopping = draining();
    const ready = !stopping && Object.values(checks).every((c) => c === 'ok');
    ctx.status = ready ? 200 : 503;
    if (!ready) ctx.set('retry-after', '5');
    ctx.body = { status: stopping ? 'stopping' : ready ? 'ok' : 'unavailable', checks };
  });
  return router;
}

import { createHash, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import type { Metrics } from './metrics.js';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * `GET /metrics` for Prometheus, behind a bearer token (docs/metrics.md). Without a configured token
 * the route does not exist: the numbers say how busy the service is and which store is down, which
 * is nobody else's business.
 */
export function metricsRouter(metrics: Metrics, token: string): Router {
  const expected = digest(`Bearer ${token}`);
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    // Compared as digests: equal lengths, and no early exit that times the token out byte by byte.
    if (!timingSafeEqual(digest(ctx.get('authorization')), expected)) {
      ctx.status = 401;
      ctx.set('www-authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'invalid_token', error_description: 'a valid metrics bearer token is required' };
      return;
    }
    ctx.set('cache-control', 'no-store');
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });
  return router;
}

import type { Middleware } from 'koa';

/**
 * Headers for every answer, pages from oidc-provider included. The CSP here allows nothing; an
 * HTML page replaces it with one carrying its style nonce (see `htmlPage`).
 */
export function securityHeaders({ https }: { https: boolean }): Middleware {
  return async (ctx, next) => {
    ctx.set('content-security-policy', "default-src 'none'; frame-ancestors 'none'; base-uri 'none'");
    ctx.set('x-content-type-options', 'nosniff');
    ctx.set('x-frame-options', 'DENY');
    ctx.set('referrer-policy', 'no-referrer');
    ctx.set('cross-origin-opener-policy', 'same-origin');
    if (https) ctx.set('strict-transport-security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}

import type { Middleware } from 'koa';

/**
 * Headers for every answer, pages from oidc-provider included. The CSP here allows nothing; an
 * HTML page replaces it with one carrying its style nonce (see `htmlPage`).
 */
export function securityHeaders({ https }: { https: boolean }): Middleware {
  return async (ctx, next) => {
    // `script-src 'report-sample'` allows no script by itself, but gives oidc-provider's form_post
    // page a directive to append its auto-submit script's hash to.
    ctx.set('content-security-policy', "default-src 'none'; script-src 'report-sample'; frame-ancestors 'none'; base-uri 'none'");
    ctx.set('x-content-type-options', 'nosniff');
    ctx.set('x-frame-options', 'DENY');
    ctx.set('referrer-policy', 'no-referrer');
    ctx.set('cross-origin-opener-policy', 'same-origin');
    if (https) ctx.set('strict-transport-security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}

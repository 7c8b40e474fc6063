import type { Middleware } from 'koa';
import { cspNonce } from './csp-nonce.js';

/**
 * Headers for every answer, pages from oidc-provider included. No `form-action`: Chromium applies
 * it to the redirect after a form post, which would block the return to the relying party.
 */
export function securityHeaders({ https }: { https: boolean }): Middleware {
  return async (ctx, next) => {
    const nonce = cspNonce(ctx.req);
    ctx.set('content-security-policy', `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'`);
    ctx.set('x-content-type-options', 'nosniff');
    ctx.set('x-frame-options', 'DENY');
    ctx.set('referrer-policy', 'no-referrer');
    ctx.set('cross-origin-opener-policy', 'same-origin');
    if (https) ctx.set('strict-transport-security', 'max-age=31536000; includeSubDomains');
    await next();
  };
}

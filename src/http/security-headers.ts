import type { Middleware } from 'koa';

// `script-src 'report-sample'` allows no script by itself, but gives oidc-provider's form_post
// page a directive to append its auto-submit script's hash to.
const COMMON: [string, string][] = [
  ['content-security-policy', "default-src 'none'; script-src 'report-sample'; frame-ancestors 'none'; base-uri 'none'"],
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
  ['cross-origin-opener-policy', 'same-origin'],
];
const HSTS: [string, string] = ['strict-transport-security', 'max-age=31536000; includeSubDomains'];

/**
 * Headers for every answer, pages from oidc-provider included. The CSP here allows nothing; an
 * HTML page replaces it with one carrying its style nonce (see `htmlPage`).
 */
export function securityHeaders({ https }: { https: boolean }): Middleware {
  const headers = https ? [...COMMON, HSTS] : COMMON;
  // First in the chain, so nothing has been sent yet: `res.setHeader` directly skips the arrays
  // that Koa's `ctx.set` builds for every call. Not async: on the token path every extra promise
  // also runs the async hooks that oidc-provider's AsyncLocalStorage turns on.
  return (ctx, next) => {
    for (const [name, value] of headers) ctx.res.setHeader(name, value);
    return next();
  };
}

import type { Middleware } from 'koa';
import { routedPath } from '../http/routed-path.js';

/**
 * The provider's machine-facing endpoints (oidc-provider's default routes) and the methods each
 * takes. OPTIONS always passes: oidc-provider answers CORS preflights itself.
 */
const ENDPOINT_METHODS: ReadonlyMap<string, readonly string[]> = new Map([
  ['/token', ['POST']],
  ['/token/introspection', ['POST']],
  ['/token/revocation', ['POST']],
  ['/request', ['POST']],
  ['/backchannel', ['POST']],
  ['/device/auth', ['POST']],
  ['/jwks', ['GET', 'HEAD']],
  ['/me', ['GET', 'HEAD', 'POST']],
  ['/.well-known/openid-configuration', ['GET', 'HEAD']],
]);

/**
 * A client that uses the wrong method at a protocol endpoint gets a protocol answer: 405 with
 * `Allow` and an RFC 6749 JSON error. Left to oidc-provider, some of these collide with the
 * browser routes beside them (`GET /device/auth` reaches the device flow's user pages) and come
 * back as HTML, which no client can read, or in 9.13.3 as a 500.
 */
export function endpointMethods(): Middleware {
  // Not async: a request that passes costs no promise of its own.
  return (ctx, next) => {
    const path = routedPath(ctx.path);
    const allowed = ENDPOINT_METHODS.get(path) ?? (path.startsWith('/device/auth/') ? [] : undefined);
    if (!allowed || ctx.method === 'OPTIONS' || allowed.includes(ctx.method)) return next();
    ctx.status = allowed.length ? 405 : 404;
    if (allowed.length) ctx.set('Allow', [...allowed, 'OPTIONS'].join(', '));
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      error: 'invalid_request',
      error_description: allowed.length ? `this endpoint accepts ${allowed.join(' or ')}` : 'no such endpoint',
    };
    return Promise.resolve();
  };
}

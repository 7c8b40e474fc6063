import Koa, { type Middleware } from 'koa';
import compose from 'koa-compose';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import { endpointMethods, type ProviderHolder } from '../oidc/index.js';
import type Router from '@koa/router';
import { requestContext } from './request-context.js';
import { translatedClients } from './translated-clients.js';
import { securityHeaders } from './security-headers.js';
import { CookieSigner } from './cookie-signer.js';
import { withRequestMemo } from '../storage/request-memo.js';
import type { Metrics } from '../metrics/metrics.js';

/** `/interaction` for `/interaction/abc/login`; `/` for `/`. */
const firstSegment = (path: string): string => {
  const end = path.indexOf('/', 1);
  return end === -1 ? path : path.slice(0, end);
};

/**
 * The outer app. Our own routers run first; anything they do not answer goes to oidc-provider,
 * which writes the response itself (so logging and headers must come before it).
 */
export function createHttpApp({ config, holder, routers, logger, edge, metrics }: { config: Config; holder: ProviderHolder; routers: Router[]; logger: Logger; edge?: Middleware; metrics?: Metrics }): Koa {
  // Only the entries the trusted proxies added: a client can write anything to the left of them.
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: config.proxyHops });
  // Koa hands `keys` to the cookies module as is when it is not an array (see cookie-signer.ts).
  app.keys = new CookieSigner(config.secrets.cookieKeys) as unknown as string[];
  app.silent = true;
  // Before anything reads the client's address (src/http/translated-clients.ts).
  if (config.nat64Prefixes.length) app.use(translatedClients(config.nat64Prefixes));
  app.use(requestContext(logger, metrics));
  // One memo of store reads per request (see storage/request-memo.ts). Inside the request context,
  // so that a failure of the writes it sends at the end is logged and answered like any other. A
  // request answered 5xx delivered nothing: what it spent is given back (a code, a refresh token).
  app.use((ctx, next) => withRequestMemo(next, () => ctx.status >= 500));
  app.use(securityHeaders({ https: config.issuer.startsWith('https://') }));
  // Rate limits (src/http/edge-limits.ts) before anything else does work for the request.
  if (edge) app.use(edge);
  app.use(endpointMethods());
  const ours = compose(routers.flatMap((r) => [r.routes(), r.allowedMethods()]) as Middleware[]);
  const prefixes = new Set(routers.flatMap((r) => r.stack.map((layer) => `/${String(layer.path).split('/')[1] ?? ''}`)));
  // Protocol requests (most of the traffic) skip our routers' matching altogether, and go to the
  // provider in this same step rather than through one more layer of the chain.
  app.use((ctx, next) => (prefixes.has(firstSegment(ctx.path)) ? ours(ctx, () => holder.middleware(ctx, next)) : holder.middleware(ctx, next)));
  return app;
}

import Koa from 'koa';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import type { ProviderHolder } from '../oidc/index.js';
import type Router from '@koa/router';
import { requestContext } from './request-context.js';
import { securityHeaders } from './security-headers.js';

/**
 * The outer app. Our own routers run first; anything they do not answer goes to oidc-provider,
 * which writes the response itself (so logging and headers must come before it).
 */
export function createHttpApp({ config, holder, routers, logger }: { config: Config; holder: ProviderHolder; routers: Router[]; logger: Logger }): Koa {
  const app = new Koa({ proxy: config.trustProxy, keys: [...config.secrets.cookieKeys] });
  app.silent = true;
  app.use(requestContext(logger));
  app.use(securityHeaders({ https: config.issuer.startsWith('https://') }));
  for (const router of routers) {
    app.use(router.routes());
    app.use(router.allowedMethods());
  }
  app.use(async (ctx) => {
    ctx.respond = false;
    await holder.callback(ctx.req, ctx.res);
  });
  return app;
}

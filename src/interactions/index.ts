import Router from '@koa/router';
import { consentRoutes } from './consent.routes.js';
import type { InteractionDeps } from './deps.js';
import { loginRoutes } from './login.routes.js';
import { showRoutes } from './show.routes.js';

export { csrfTokens } from './csrf.js';
export type { InteractionDeps } from './deps.js';

export function interactionRouter(deps: InteractionDeps): Router {
  const router = new Router();
  showRoutes(router, deps);
  loginRoutes(router, deps);
  consentRoutes(router, deps);
  return router;
}

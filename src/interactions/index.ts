import Router from '@koa/router';
import { consentRoutes } from './consent.routes.js';
import { loginRoutes } from './login.routes.js';
import type { SecondFactorDeps } from './second-factor.js';
import { secondFactorRoutes } from './second-factor.routes.js';
import { showRoutes } from './show.routes.js';

export { csrfTokens, type CsrfTokens } from './csrf.js';
export type { InteractionDeps } from './deps.js';
export type { SecondFactorDeps } from './second-factor.js';

export function interactionRouter(deps: SecondFactorDeps): Router {
  const router = new Router();
  showRoutes(router, deps);
  loginRoutes(router, deps);
  secondFactorRoutes(router, deps);
  consentRoutes(router, deps);
  return router;
}

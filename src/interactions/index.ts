import Router from '@koa/router';
import { consentRoutes } from './consent.routes.js';
import { loginRoutes } from './login.routes.js';
import { passkeyLoginRoutes, type PasskeyLoginDeps } from './passkey-login.routes.js';
import { secondFactorRoutes } from './second-factor.routes.js';
import { showRoutes } from './show.routes.js';
import { smsLoginRoutes, type SmsLoginDeps } from './sms-login.routes.js';

export type { InteractionDeps } from './deps.js';
export type { SecondFactorDeps } from './second-factor.js';
export type { SmsLoginDeps } from './sms-login.routes.js';
export type { PasskeyLoginDeps } from './passkey-login.routes.js';
export { createSmsSignIn, type SmsSignIn } from './sms-sign-in.js';

export function interactionRouter(deps: SmsLoginDeps & PasskeyLoginDeps): Router {
  const router = new Router();
  showRoutes(router, deps);
  loginRoutes(router, deps);
  secondFactorRoutes(router, deps);
  smsLoginRoutes(router, deps);
  passkeyLoginRoutes(router, deps);
  consentRoutes(router, deps);
  return router;
}
export type { LoginOption } from './deps.js';
export type { Locale } from '../http/locale.js';
export { completeLogin, fail, loadInteraction, rememberAddress, renderLogin, type LoadedInteraction } from './interaction-context.js';
export { refuseUnreachableLevel } from './second-factor.js';

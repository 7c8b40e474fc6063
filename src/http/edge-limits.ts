import type { Context, Middleware } from 'koa';
import type { RateLimitRule, RateLimits } from './rate-limits.js';
import { routedPath } from './routed-path.js';

/** From config `rateLimits`. */
export interface EdgeLimitsConfig {
  /** Failed client authentication at /token, introspection and revocation. */
  clientAuthFailures: RateLimitRule;
  /** Failed sign-ins (401) at the login, SMS-code, second-factor and passkey forms, all together. */
  signInFailures: RateLimitRule;
  /** Requests that send an SMS or start a flow: SMS sign-in, registration and password reset. */
  forms: RateLimitRule;
  /** POST /mobile/challenge and the approvals API. */
  mobile: RateLimitRule;
  /** Admin API calls answered 401 (no or a bad operator token). */
  adminUnauthenticated: RateLimitRule;
}

const invalidClient = (ctx: Context) => ctx.status === 401 && (ctx.body as { error?: unknown } | undefined)?.error === 'invalid_client';
const unauthorized = (ctx: Context) => ctx.status === 401;
const badRequest = (ctx: Context) => ctx.status === 400;

/**
 * Which requests meet which limit (src/http/rate-limits.ts): one table, matched on method and path.
 * Counted per client address, so the X-Forwarded-For of a trusted proxy (config `trustProxy`) names it.
 */
export function edgeLimits(limits: RateLimits, config: EdgeLimitsConfig): Middleware {
  const table: { method: string; path: RegExp; run: Middleware }[] = [
    { method: 'POST', path: /^\/token(\/introspection|\/revocation)?$/, run: limits.limit('client-auth', config.clientAuthFailures, { failed: invalidClient }) },
    {
      method: 'POST',
      path: /^\/interaction\/[^/]+\/(login|sms\/verify|passkey|second-factor(\/.*)?)$/,
      run: limits.limit('sign-in', config.signInFailures, { failed: unauthorized }, { html: true }),
    },
    { method: 'POST', path: /^\/(interaction\/[^/]+\/sms|register(\/code|\/resend)?|password-reset(\/code)?)$/, run: limits.limit('forms', config.forms, 'every', { html: true }) },
    // A kiosk's user code typed on a phone: a wrong one is a 400 (kiosk/device-pages.ts). Guessing
    // another kiosk's live code would sign that kiosk in as the guesser, or cancel its request.
    { method: 'POST', path: /^\/device$/, run: limits.limit('device-code', config.signInFailures, { failed: badRequest }, { html: true }) },
    { method: 'POST', path: /^\/mobile\/(challenge|approvals(\/.*)?)$/, run: limits.limit('mobile', config.mobile, 'every') },
    { method: 'GET', path: /^\/mobile\/approvals(\/.*)?$/, run: limits.limit('mobile', config.mobile, 'every') },
    { path: /^\/admin\/api\//, method: '*', run: limits.limit('admin-unauthenticated', config.adminUnauthenticated, { failed: unauthorized }) },
  ];
  return (ctx, next) => {
    const path = routedPath(ctx.path);
    const entry = table.find((e) => (e.method === '*' || e.method === ctx.method) && e.path.test(path));
    return entry ? entry.run(ctx, next) : next();
  };
}

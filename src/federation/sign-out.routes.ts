import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { fail, type Locale } from '../interactions/index.js';
import { federationMessages } from './messages.js';
import { SIGNED_OUT_PATH } from './paths.js';
import type { UpstreamSignOut } from './upstream-sign-out.js';

/** The cookie that ties the upstream's redirect back after sign-out to the browser that was sent there. */
const BINDING_COOKIE = 'yihao_fed_out';
/** oidc-provider's RP-initiated logout confirmation (its default route, which Yihao keeps). */
const END_SESSION_CONFIRM = '/session/end/confirm';

const localeOf = (ctx: Context): Locale => (/^en\b/i.test(ctx.get('accept-language')) ? 'en' : 'zh-CN');
const whereOf = (ctx: Context) => ({ ip: ctx.ip, requestId: ctx.state.requestId as string | undefined });

/**
 * After a Yihao session ended in this browser: where to send the browser next. That is the
 * upstream's end_session_endpoint when the session came from an upstream set to be signed out
 * (the binding cookie is set then), else `returnTo` itself.
 */
export type ContinueSignOut = (ctx: Context, sessionUid: string, returnTo: string) => Promise<string>;

export function continueSignOut(signOut: UpstreamSignOut, secureCookies: boolean): ContinueSignOut {
  return async (ctx, sessionUid, returnTo) => {
    const started = await signOut.begin(sessionUid, returnTo, whereOf(ctx));
    if (!started) return returnTo;
    ctx.cookies.set(BINDING_COOKIE, started.browserValue, { path: SIGNED_OUT_PATH, httpOnly: true, sameSite: 'lax', signed: true, secure: secureCookies, overwrite: true });
    return started.url.href;
  };
}

/**
 * - `POST /session/end/confirm` (oidc-provider's, wrapped): when the citizen signed out of the Yihao
 *   session there (not only out of one app), the redirect to where the app asked to go becomes a
 *   detour through the upstream's sign-out, where that is configured.
 * - `GET /federation/signed-out`: back from the upstream; on to the URL Yihao stored, once.
 */
export function signOutRoutes(
  router: Router,
  deps: { provider: () => Provider; signOut: UpstreamSignOut; continueSignOut: ContinueSignOut; holdLogout?: (() => void) | undefined },
): Router {
  router.post(END_SESSION_CONFIRM, async (ctx: Context, next: Next) => {
    const provider = deps.provider();
    const cookieId = ctx.cookies.get(provider.cookieName('session'), { signed: true });
    const before = cookieId ? await provider.Session.find(cookieId) : undefined;
    // The session's end waits for its session.ended record (oidc/events.ts), and goes with it.
    deps.holdLogout?.();
    await next();
    if (!before?.accountId || ctx.status !== 303) return;
    // Still there: only the app was signed out ("stay signed in"), so the upstream session stays too.
    if (await provider.Session.findByUid(before.uid)) return;
    const returnTo = ctx.response.get('location');
    if (!returnTo) return;
    const to = await deps.continueSignOut(ctx, before.uid, returnTo);
    if (to !== returnTo) ctx.redirect(to);
  });

  router.get(SIGNED_OUT_PATH, async (ctx) => {
    ctx.set('cache-control', 'no-store');
    const query = ctx.URL.searchParams;
    const state = query.get('state');
    let returnTo: string | undefined;
    // Only the state comes back; anything else is refused before any lookup (the cookie stays).
    if (state && state.length <= 128 && [...query.keys()].every((k) => k === 'state')) {
      returnTo = await deps.signOut.finish(state, ctx.cookies.get(BINDING_COOKIE, { signed: true }));
      ctx.cookies.set(BINDING_COOKIE, null, { path: SIGNED_OUT_PATH });
    }
    if (!returnTo) {
      const locale = localeOf(ctx);
      return fail(ctx, 400, locale, federationMessages(locale).signOutExpired, 'state_unknown');
    }
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  return router;
}

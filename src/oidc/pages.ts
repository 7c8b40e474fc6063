import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { htmlPage } from '../http/html-page.js';
import { pickLocale } from '../http/locale.js';
import { errorPage, logoutPage, signedOutPage } from '../interactions/views/pages.js';

const localeOf = (ctx: KoaContextWithOIDC) => pickLocale((ctx.oidc?.params as { ui_locales?: unknown } | undefined)?.ui_locales ?? ctx.query?.ui_locales);

/**
 * The signed-out page comes after a redirect that carries no `ui_locales`: the sign-out page
 * leaves its language in a cookie for it, scoped to the end-session paths.
 */
const LOGOUT_LOCALE_COOKIE = 'yihao_logout_lang';
const logoutCookie = (ctx: KoaContextWithOIDC) => ({ signed: false, httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, path: '/session/end', overwrite: true });

/** The pages oidc-provider renders itself, in our look and language. */
export const providerPages: Pick<Configuration, 'renderError'> & {
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => void;
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => void;
} = {
  logoutSource(ctx, form) {
    const locale = localeOf(ctx);
    ctx.cookies.set(LOGOUT_LOCALE_COOKIE, locale, logoutCookie(ctx));
    htmlPage(ctx, (nonce) => logoutPage({ locale, nonce, form }));
  },
  postLogoutSuccessSource(ctx) {
    const remembered = ctx.cookies.get(LOGOUT_LOCALE_COOKIE);
    ctx.cookies.set(LOGOUT_LOCALE_COOKIE, null, logoutCookie(ctx));
    const locale = typeof ctx.query?.ui_locales === 'string' ? localeOf(ctx) : pickLocale(remembered);
    htmlPage(ctx, (nonce) => signedOutPage({ locale, nonce }));
  },
  renderError(ctx, out) {
    // error_description comes from oidc-provider and is safe to show; stack traces never are.
    htmlPage(ctx, (nonce) => errorPage({ locale: localeOf(ctx), nonce, code: out.error, message: out.error_description ?? '' }));
  },
};

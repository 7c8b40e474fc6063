import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { cspNonce } from '../http/csp-nonce.js';
import { pickLocale } from '../interactions/i18n.js';
import { errorPage, logoutPage, signedOutPage } from '../interactions/views/pages.js';

const localeOf = (ctx: KoaContextWithOIDC) => pickLocale((ctx.oidc?.params as { ui_locales?: unknown } | undefined)?.ui_locales ?? ctx.query?.ui_locales);

/** The pages oidc-provider renders itself, in our look and language. */
export const providerPages: Pick<Configuration, 'renderError'> & {
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => void;
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => void;
} = {
  logoutSource(ctx, form) {
    ctx.type = 'html';
    ctx.body = logoutPage({ locale: localeOf(ctx), nonce: cspNonce(ctx.req), form });
  },
  postLogoutSuccessSource(ctx) {
    ctx.type = 'html';
    ctx.body = signedOutPage({ locale: localeOf(ctx), nonce: cspNonce(ctx.req) });
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    // error_description comes from oidc-provider and is safe to show; stack traces never are.
    ctx.body = errorPage({ locale: localeOf(ctx), nonce: cspNonce(ctx.req), code: out.error, message: out.error_description ?? '' });
  },
};
